/* console: text lines on the mps2 board's UART0 (QEMU's -serial), safe from any task. */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stddef.h>

void console_init(void);
void console_write(const char *text, size_t len);
void console_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints what failed where and ends the run (semihosting exit 3). */
void console_fatal(const char *what, const char *detail, const char *file, int line)
    __attribute__((noreturn));

#endif
