/*
 * semihost: Arm semihosting (BKPT 0xAB on M-profile) as QEMU implements it with
 * -semihosting-config enable=on,target=native: the emulator performs the call on the host. The
 * firmware uses it for its settings (the command line), the files in the device directory that
 * play the flash (emu_flash.c), and its exit status. Calls are synchronous; use them from one
 * task at a time.
 */
#ifndef SEMIHOST_H
#define SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* fopen-style modes as semihosting numbers them */
#define SH_MODE_RB 1
#define SH_MODE_RPLUSB 3
#define SH_MODE_WB 5
#define SH_MODE_WPLUSB 7

/* A handle (>= 0) or -1. */
int32_t semihost_open(const char *path, int mode);
int32_t semihost_close(int32_t h);
/* Bytes NOT transferred (0: all), or -1. */
int32_t semihost_write(int32_t h, const void *buf, size_t len);
int32_t semihost_read(int32_t h, void *buf, size_t len);
int32_t semihost_seek(int32_t h, uint32_t pos);
int32_t semihost_flen(int32_t h);
int32_t semihost_remove(const char *path);
/* The command line QEMU was given (arg=...), NUL-terminated; 0 on success. */
int32_t semihost_cmdline(char *buf, size_t cap);
/* Host seconds since 1970. */
uint32_t semihost_time(void);
/* Ends the emulation with this exit status. */
void semihost_exit(uint32_t status) __attribute__((noreturn));

#endif
