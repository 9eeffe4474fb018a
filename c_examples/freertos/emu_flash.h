/*
 * emu_flash: the firmware slot and the two record copies as files in the device directory on
 * the host, reached through semihosting: DIR/firmware.bin (the slot), DIR/ota_record.0 and .1,
 * the same names the Linux demo uses. Every write reaches the host file before the call returns
 * and QEMU keeps nothing in between, so killing QEMU is a power cut: what was written stays, what
 * was not is lost, and the next run resumes from the record like a device from its flash.
 * On a real board these callbacks are the flash driver's (erase the slot's sectors at offset 0,
 * program at increasing offsets, two separate sectors for the record copies).
 */
#ifndef EMU_FLASH_H
#define EMU_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcloud_ota.h"

/* dir: the device directory (kept, not copied). */
void emu_flash_init(const char *dir);
/* The ota_platform slot_* and store_* callbacks. */
void emu_flash_platform(ota_platform *p);
/* Reads DIR/name into buf (NUL-terminated, trailing whitespace cut); false if absent. */
bool emu_flash_read_text(const char *name, char *buf, size_t cap);
/* Replaces DIR/name with text; false on failure. */
bool emu_flash_write_text(const char *name, const char *text);
bool emu_flash_remove(const char *name);
/* Reads a whole host file (an absolute path) into buf; its length, or -1. */
int32_t emu_flash_read_file(const char *path, uint8_t *buf, size_t cap);

#endif
