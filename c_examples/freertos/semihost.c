/* semihost: the operations of the Arm semihosting specification the firmware uses. */
#include "semihost.h"

#include <string.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0A
#define SYS_FLEN 0x0C
#define SYS_REMOVE 0x0E
#define SYS_TIME 0x11
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int32_t call(uint32_t op, void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

int32_t semihost_open(const char *path, int mode)
{
    uint32_t a[3] = { (uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path) };
    return call(SYS_OPEN, a);
}

int32_t semihost_close(int32_t h)
{
    uint32_t a[1] = { (uint32_t)h };
    return call(SYS_CLOSE, a);
}

int32_t semihost_write(int32_t h, const void *buf, size_t len)
{
    uint32_t a[3] = { (uint32_t)h, (uint32_t)(uintptr_t)buf, (uint32_t)len };
    return call(SYS_WRITE, a);
}

int32_t semihost_read(int32_t h, void *buf, size_t len)
{
    uint32_t a[3] = { (uint32_t)h, (uint32_t)(uintptr_t)buf, (uint32_t)len };
    return call(SYS_READ, a);
}

int32_t semihost_seek(int32_t h, uint32_t pos)
{
    uint32_t a[2] = { (uint32_t)h, pos };
    return call(SYS_SEEK, a);
}

int32_t semihost_flen(int32_t h)
{
    uint32_t a[1] = { (uint32_t)h };
    return call(SYS_FLEN, a);
}

int32_t semihost_remove(const char *path)
{
    uint32_t a[2] = { (uint32_t)(uintptr_t)path, (uint32_t)strlen(path) };
    return call(SYS_REMOVE, a);
}

int32_t semihost_cmdline(char *buf, size_t cap)
{
    uint32_t a[2] = { (uint32_t)(uintptr_t)buf, (uint32_t)cap };
    return call(SYS_GET_CMDLINE, a);
}

uint32_t semihost_time(void)
{
    return (uint32_t)call(SYS_TIME, NULL);
}

void semihost_exit(uint32_t status)
{
    uint32_t a[2] = { ADP_STOPPED_APPLICATION_EXIT, status };
    for (;;)
        (void)call(SYS_EXIT_EXTENDED, a);
}
