/* console: the CMSDK APB UART0 of mps2-an386 (ARM DDI0479C), polled. */
#include "console.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "FreeRTOS.h"
#include "task.h"

#include "semihost.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART0_DATA REG(0x40004000u)
#define UART0_STATE REG(0x40004004u)
#define UART0_CTRL REG(0x40004008u)
#define UART0_BAUDDIV REG(0x40004010u)

void console_init(void)
{
    UART0_BAUDDIV = 16; /* the smallest legal divider; QEMU ignores the rate */
    UART0_CTRL = 1u;    /* TX enable */
}

void console_write(const char *text, size_t len)
{
    /* A critical section keeps lines of different tasks apart (QEMU's UART never waits long). */
    bool sched = xTaskGetSchedulerState() == taskSCHEDULER_RUNNING;
    if (sched)
        taskENTER_CRITICAL();
    for (size_t i = 0; i < len; i++) {
        while (UART0_STATE & 1u) /* TX full */
            ;
        UART0_DATA = (uint8_t)text[i];
    }
    if (sched)
        taskEXIT_CRITICAL();
}

void console_printf(const char *fmt, ...)
{
    char line[200];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    console_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void console_fatal(const char *what, const char *detail, const char *file, int line)
{
    console_printf("FATAL %s: %s (%s:%d)\n", what, detail ? detail : "", file ? file : "?", line);
    semihost_exit(3);
}
