/* lwIP's compiler/platform header for arm-none-eabi-gcc + newlib (little endian). */
#ifndef LWIP_ARCH_CC_H
#define LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#include "console.h"

#define LWIP_PLATFORM_DIAG(x)                                                                  \
    do {                                                                                       \
        console_printf x;                                                                      \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) console_fatal("lwip assert", x, __FILE__, __LINE__)
/* TCP initial sequence numbers and local ports; seeded per boot in main(). */
#define LWIP_RAND() ((u32_t)rand())

#endif
