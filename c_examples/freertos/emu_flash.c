/* emu_flash: slot and record over semihosting files (see emu_flash.h). */
#include "emu_flash.h"

#include <stdio.h>
#include <string.h>

#include "semihost.h"

static const char *device_dir;
static int32_t slot_fd = -1;
static uint32_t slot_size;

static bool path_of(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", device_dir, name);
    return n > 0 && (size_t)n < cap;
}

void emu_flash_init(const char *dir) { device_dir = dir; }

static int32_t slot_open(void *user, uint32_t image_size, uint32_t offset)
{
    char path[300];
    (void)user;
    if (offset > image_size || !path_of("firmware.bin", path, sizeof path))
        return -1;
    if (slot_fd >= 0)
        (void)semihost_close(slot_fd);
    /* From 0 the slot is erased (truncated); a resume keeps what the record vouches for. */
    slot_fd = semihost_open(path, offset == 0 ? SH_MODE_WPLUSB : SH_MODE_RPLUSB);
    if (slot_fd < 0)
        return -1;
    slot_size = image_size;
    return 0;
}

/* The open slot positioned at `offset`, when [offset, offset + len) lies inside the image. */
static bool slot_seek(uint32_t offset, size_t len)
{
    return slot_fd >= 0 && offset <= slot_size && len <= slot_size - offset &&
           semihost_seek(slot_fd, offset) == 0;
}

static int32_t slot_write(void *user, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)user;
    if (!slot_seek(offset, len) || semihost_write(slot_fd, data, len) != 0)
        return -1;
    return 0;
}

static int32_t slot_read(void *user, uint32_t offset, uint8_t *buf, size_t len)
{
    (void)user;
    if (!slot_seek(offset, len) || semihost_read(slot_fd, buf, len) != 0)
        return -1;
    return 0;
}

static int32_t slot_close(void *user, bool bootable)
{
    (void)user;
    (void)bootable; /* the image is marked for the "bootloader" at OTA_EVENT_IMAGE_READY */
    if (slot_fd >= 0)
        (void)semihost_close(slot_fd);
    slot_fd = -1;
    return 0;
}

/* The file of record copy `copy` (0 or 1). */
static bool record_path(uint8_t copy, char *path, size_t cap)
{
    char name[16];
    if (copy > 1)
        return false;
    (void)snprintf(name, sizeof name, "ota_record.%u", (unsigned)copy);
    return path_of(name, path, cap);
}

static int32_t store_load(void *user, uint8_t copy, uint8_t *buf, size_t cap)
{
    char path[300];
    int32_t n;
    (void)user;
    if (!record_path(copy, path, sizeof path))
        return -1;
    n = emu_flash_read_file(path, buf, cap);
    return n < 0 ? 0 : n; /* no copy yet: empty */
}

static int32_t store_save(void *user, uint8_t copy, const uint8_t *data, size_t len)
{
    char path[300];
    int32_t fd, rc;
    (void)user;
    if (!record_path(copy, path, sizeof path))
        return -1;
    /* Truncate and write: a power cut in between tears this copy only (the other is intact). */
    fd = semihost_open(path, SH_MODE_WB);
    if (fd < 0)
        return -1;
    rc = semihost_write(fd, data, len);
    (void)semihost_close(fd);
    return rc == 0 ? 0 : -1;
}

void emu_flash_platform(ota_platform *p)
{
    p->slot_open = slot_open;
    p->slot_write = slot_write;
    p->slot_read = slot_read;
    p->slot_close = slot_close;
    p->store_load = store_load;
    p->store_save = store_save;
}

int32_t emu_flash_read_file(const char *path, uint8_t *buf, size_t cap)
{
    int32_t fd = semihost_open(path, SH_MODE_RB), len;
    if (fd < 0)
        return -1;
    len = semihost_flen(fd);
    if (len < 0 || (size_t)len > cap || semihost_read(fd, buf, (size_t)len) != 0)
        len = -1;
    (void)semihost_close(fd);
    return len;
}

bool emu_flash_read_text(const char *name, char *buf, size_t cap)
{
    char path[300];
    int32_t n;
    if (cap == 0 || !path_of(name, path, sizeof path))
        return false;
    n = emu_flash_read_file(path, (uint8_t *)buf, cap - 1);
    if (n < 0)
        return false;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    return true;
}

bool emu_flash_write_text(const char *name, const char *text)
{
    char path[300];
    int32_t fd, rc;
    if (!path_of(name, path, sizeof path))
        return false;
    fd = semihost_open(path, SH_MODE_WB);
    if (fd < 0)
        return false;
    rc = semihost_write(fd, text, strlen(text));
    (void)semihost_close(fd);
    return rc == 0;
}

bool emu_flash_remove(const char *name)
{
    char path[300];
    return path_of(name, path, sizeof path) && semihost_remove(path) == 0;
}
