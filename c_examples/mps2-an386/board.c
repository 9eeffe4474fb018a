/* board: startup, UART0, SysTick clock, reset, stack paint for QEMU's mps2-an385/an386. */
#include "board.h"

#include <string.h>

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART0 */
#define UART0_DATA REG(0x40004000u)
#define UART0_STATE REG(0x40004004u)
#define UART0_CTRL REG(0x40004008u)
#define UART0_BAUDDIV REG(0x40004010u)
/* CMSDK APB timer0: only used to nudge QEMU (see uart_getc_until) */
#define TIMER0_CTRL REG(0x40000000u)
#define TIMER0_VALUE REG(0x40000004u)
#define TIMER0_RELOAD REG(0x40000008u)
#define UART0_INTSTATUS REG(0x4000400Cu)
#define UART0_RX_IRQ 0 /* IRQ numbers of the MPS2 CMSDK images: UART0 RX = 0, TX = 1 */
#define NVIC_ISER0 REG(0xE000E100u)
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u

/* System control space */
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_VTOR REG(0xE000ED08u)
#define SCB_AIRCR REG(0xE000ED0Cu)
#define SCB_CPACR REG(0xE000ED88u)

#define STACK_PAINT 0xC5C5C5C5u

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];
extern int main(void);

static volatile uint64_t ticks_ms;

void Reset_Handler(void);
void SysTick_Handler(void);
void Fault_Handler(void);
void Uart0Rx_Handler(void);

/* Only wakes the CPU from WFI: the byte stays in DATA for uart_getc_until(). */
void Uart0Rx_Handler(void)
{
    UART0_INTSTATUS = 2u; /* W1C: RX */
}

void SysTick_Handler(void)
{
    ticks_ms++;
}

void Fault_Handler(void)
{
    /* Nothing sensible to do in a test firmware: the bridge's deadline ends the run. */
    for (;;)
        __asm__ volatile("bkpt #0");
}

/* Vector table: initial SP, reset, then the system exceptions; no device interrupts are used. */
__attribute__((section(".vectors"), used)) static void (*const vectors[17])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
    Uart0Rx_Handler, /* IRQ 0 */
};

/* Runs before .data/.bss exist: touches only registers and the stack below the current frame. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm__ volatile(
        /* paint the stack from its bottom up to 64 bytes under the current SP */
        "ldr r0, =__stack_bottom\n"
        "mov r1, sp\n"
        "sub r1, r1, #64\n"
        "ldr r2, =0xC5C5C5C5\n"
        "1: cmp r0, r1\n"
        "bhs 2f\n"
        "str r2, [r0], #4\n"
        "b 1b\n"
        "2: bl board_start\n"
        "b .\n");
}

void board_start(void) __attribute__((noreturn, used));
void board_start(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end)
        *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end; dst++)
        *dst = 0;
    SCB_VTOR = (uint32_t)(uintptr_t)vectors;
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20; /* CP10/CP11 full access: the hard-float ABI may use FP registers */
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    (void)main();
    board_reset();
}

void board_init(void)
{
    UART0_BAUDDIV = 16; /* the smallest legal divider; QEMU ignores the rate but wants >= 16 */
    /* TX and RX enabled; the RX interrupt wakes the CPU from WFI while it waits for a byte.
     * Waiting in WFI rather than spinning on STATE matters under QEMU: a spinning vCPU keeps
     * QEMU's global lock busy and the UART then receives ~12 KiB/s instead of megabytes. */
    UART0_CTRL = 3u | 8u;
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1;
    SYST_RVR = BOARD_CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7; /* processor clock, interrupt, enable */
}

uint64_t board_now_ms(void)
{
    uint64_t a, b;
    /* A 64-bit read is two loads: read until two agree so an interrupt in between is harmless. */
    do {
        a = ticks_ms;
        b = ticks_ms;
    } while (a != b);
    return a;
}

void board_wait_ms(uint32_t ms)
{
    uint64_t until = board_now_ms() + ms;
    while (board_now_ms() < until)
        __asm__ volatile("wfi");
}

void board_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = (0x5FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;)
        ;
}

void uart_putc(uint8_t c)
{
    while (UART0_STATE & UART_STATE_TXFULL)
        ;
    UART0_DATA = c;
}

int uart_getc_until(uint64_t deadline_ms)
{
    int c;
    while (!(UART0_STATE & UART_STATE_RXFULL)) {
        if (board_now_ms() >= deadline_ms)
            return -1;
        __asm__ volatile("wfi"); /* the RX interrupt or the next SysTick */
    }
    c = (int)(UART0_DATA & 0xFFu);
    /* QEMU-specific: re-arming a timer wakes QEMU's main loop, which only then offers the UART
     * its next byte (measured: 21 -> 33 KiB/s). Harmless on real hardware; drop it there. */
    TIMER0_VALUE = 64;
    return c;
}

uintptr_t board_stack_low_water(void)
{
    const uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == STACK_PAINT)
        p++;
    return (uintptr_t)p;
}

void board_stack_repaint(void)
{
    /* Below the caller's SP minus this function's own frame (well under 128 bytes) is free. */
    uint32_t *p = __stack_bottom, *end = (uint32_t *)(board_sp() - 128u);
    while (p < end)
        *p++ = STACK_PAINT;
}

uintptr_t board_stack_top(void) { return (uintptr_t)__stack_top; }
uintptr_t board_stack_bottom(void) { return (uintptr_t)__stack_bottom; }
