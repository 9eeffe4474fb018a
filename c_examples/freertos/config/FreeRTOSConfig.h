/* FreeRTOS configuration of the qcloud-ota firmware (QEMU mps2-an386, Cortex-M4F, 25 MHz). */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

#define configCPU_CLOCK_HZ 25000000UL
#define configTICK_RATE_HZ 1000
#define configUSE_PREEMPTION 1
#define configMAX_PRIORITIES 5
#define configMINIMAL_STACK_SIZE 128
#define configMAX_TASK_NAME_LEN 12
#define configTICK_TYPE_WIDTH_IN_BITS TICK_TYPE_WIDTH_32_BITS
#define configUSE_MUTEXES 1
#define configUSE_RECURSIVE_MUTEXES 1
#define configUSE_COUNTING_SEMAPHORES 1
#define configUSE_TASK_NOTIFICATIONS 1
#define configUSE_TIMERS 0
#define configQUEUE_REGISTRY_SIZE 0

/* heap_4: task stacks, lwIP's mailboxes and semaphores, mbedTLS's buffers while TLS is open. */
#define configSUPPORT_DYNAMIC_ALLOCATION 1
#define configSUPPORT_STATIC_ALLOCATION 0
#define configTOTAL_HEAP_SIZE (128 * 1024)

/* A spinning idle task starves QEMU's device emulation: the idle hook sleeps in WFI. */
#define configUSE_IDLE_HOOK 1
#define configUSE_TICK_HOOK 0
#define configCHECK_FOR_STACK_OVERFLOW 2
#define configUSE_MALLOC_FAILED_HOOK 1

/* QEMU implements 8 priority bits where the real part has 3: configPRIO_BITS is left to the
 * port's detection, and both values below are valid with either (only the top 3 bits used). */
#define configKERNEL_INTERRUPT_PRIORITY 0xFF
#define configMAX_SYSCALL_INTERRUPT_PRIORITY 0x20

#define INCLUDE_vTaskDelay 1
#define INCLUDE_vTaskDelete 1
#define INCLUDE_vTaskSuspend 1
#define INCLUDE_xTaskGetCurrentTaskHandle 1
#define INCLUDE_uxTaskGetStackHighWaterMark 1
#define INCLUDE_xTaskGetSchedulerState 1

void rtos_assert_failed(const char *file, int line);
#define configASSERT(x)                                                                        \
    do {                                                                                       \
        if (!(x))                                                                              \
            rtos_assert_failed(__FILE__, __LINE__);                                            \
    } while (0)

#endif
