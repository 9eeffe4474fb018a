/* Declaration-only stand-in for FreeRTOS+TCP FreeRTOS_IP.h (see FreeRTOS.h here). */
#ifndef FREERTOS_IP_H_STANDIN
#define FREERTOS_IP_H_STANDIN
#include "FreeRTOS.h"
#define FreeRTOS_htons(x) ((uint16_t)((((uint16_t)(x)) << 8) | (((uint16_t)(x)) >> 8)))
#define pdFREERTOS_ERRNO_EWOULDBLOCK 11
#define pdFREERTOS_ERRNO_ENOSPC 28
#define pdFREERTOS_ERRNO_EINPROGRESS 119
#define pdFREERTOS_ERRNO_ENOTCONN 128
#endif
