/*
 * startup_mps2: reset and vector table of the FreeRTOS firmware on mps2-an386. The FPU is
 * enabled before any C code runs (the library and this code are hard-float), VTOR points at this
 * table, whose SVC, PendSV and SysTick entries are the ARM_CM4F port's handlers (the port checks
 * SVC and PendSV before it starts the scheduler, and programs SysTick itself). The linker script
 * is the bare-metal firmware's (../mps2-an386/mps2_an386.ld).
 */
#include <stdint.h>

#include "console.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define SCB_VTOR REG(0xE000ED08u)
#define SCB_CFSR REG(0xE000ED28u)
#define SCB_HFSR REG(0xE000ED2Cu)

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
extern int main(void);

void Reset_Handler(void);
void Fault_Handler(void);
void vPortSVCHandler(void);
void xPortPendSVHandler(void);
void xPortSysTickHandler(void);
void lan9118_irq_handler(void);

void Fault_Handler(void)
{
    char detail[48];
    uint32_t cfsr = SCB_CFSR, hfsr = SCB_HFSR;
    static const char hex[] = "0123456789abcdef";
    int i;
    /* No printf here: the fault may be the C library's. */
    for (i = 0; i < 8; i++) {
        detail[i] = hex[(cfsr >> (28 - 4 * i)) & 15u];
        detail[9 + i] = hex[(hfsr >> (28 - 4 * i)) & 15u];
    }
    detail[8] = ' ';
    detail[17] = 0;
    console_fatal("fault CFSR HFSR", detail, __FILE__, __LINE__);
}

/* Initial SP, reset, the system exceptions, then the MPS2 device interrupts up to the
 * LAN9118's (IRQ 13). */
__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 14])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    vPortSVCHandler,
    Fault_Handler, /* DebugMonitor */
    0,
    xPortPendSVHandler,
    xPortSysTickHandler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, /* IRQ 0-4 */
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, /* IRQ 5-9 */
    Fault_Handler, Fault_Handler, Fault_Handler,                               /* IRQ 10-12 */
    lan9118_irq_handler,                                                       /* IRQ 13 */
};

void start_c(void) __attribute__((noreturn, used));

/* CP10/CP11 full access before any compiled code can touch an FP register. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm__ volatile("ldr r0, =0xE000ED88\n"
                     "ldr r1, [r0]\n"
                     "orr r1, r1, #(0xF << 20)\n"
                     "str r1, [r0]\n"
                     "dsb\n"
                     "isb\n"
                     "b start_c\n");
}

void start_c(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end)
        *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end; dst++)
        *dst = 0;
    SCB_VTOR = (uint32_t)(uintptr_t)vectors;
    __asm__ volatile("dsb\n isb" ::: "memory");
    (void)main();
    for (;;)
        ;
}
