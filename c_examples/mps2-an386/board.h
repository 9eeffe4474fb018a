/*
 * board: the mps2-an385/an386 peripherals the firmware uses (CMSDK APB UART0, SysTick, reset),
 * the millisecond clock and the stack paint. Register layouts: ARM DDI0479C (CMSDK) and the
 * ARMv7-M Architecture Reference Manual; QEMU models both.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The MPS2 FPGA images clock the CPU (and the SysTick) at 25 MHz. */
#define BOARD_CPU_HZ 25000000u

void board_init(void);
/* Milliseconds since reset, from the SysTick interrupt. */
uint64_t board_now_ms(void);
/* Sleep until the next interrupt (the SysTick fires every millisecond). */
void board_wait_ms(uint32_t ms);
/* System reset through SCB->AIRCR.SYSRESETREQ; QEMU reloads the ELF and keeps PSRAM. */
void board_reset(void) __attribute__((noreturn));

void uart_putc(uint8_t c);
/* A byte, or -1 when none arrived before the deadline (board_now_ms()). */
int uart_getc_until(uint64_t deadline_ms);

/* Stack painting: the reset handler fills the unused main stack with a pattern; the deepest
 * address ever written is the high-water mark. */
uintptr_t board_stack_low_water(void);
/* Paint again everything below the caller's frame, to measure the next stretch on its own. */
void board_stack_repaint(void);
uintptr_t board_stack_top(void);
uintptr_t board_stack_bottom(void);
static inline uintptr_t board_sp(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* What survives a reset: PSRAM, outside every ELF section (see mps2_an386.ld). */
extern uint8_t __persist_start[], __persist_end[];

#endif
