/* Declaration-only stand-in for FreeRTOS.h: just what c_examples/freertos/ota_freertos.c uses,
 * with the kernel's documented types, so tests/build_checks.rs can compile the port example
 * (FreeRTOS cannot be installed here). Not FreeRTOS; never linked. */
#ifndef FREERTOS_H_STANDIN
#define FREERTOS_H_STANDIN
#include <stddef.h>
#include <stdint.h>
typedef long BaseType_t;
typedef unsigned long UBaseType_t;
typedef uint32_t TickType_t;
typedef uint32_t StackType_t;
#define configSTACK_DEPTH_TYPE uint16_t
#define portTICK_PERIOD_MS ((TickType_t)1)
#define pdTRUE ((BaseType_t)1)
#define pdFALSE ((BaseType_t)0)
#endif
