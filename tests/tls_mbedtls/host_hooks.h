/*
 * host_hooks: what the host test programs give tls_mbedtls: a counting calloc/free for mbedTLS
 * (to measure the heap a connection takes), entropy from the kernel's CSPRNG (what a TRNG driver
 * is on a device) and the wall clock.
 */
#ifndef HOST_HOOKS_H
#define HOST_HOOKS_H

#include <stddef.h>
#include <stdint.h>

/* Makes mbedTLS allocate through the counter (mbedtls_platform_set_calloc_free). */
void host_hooks_count_heap(void);

/* Bytes and blocks mbedTLS holds now, and the most it held at once. */
size_t host_hooks_heap_live(void);
size_t host_hooks_heap_peak(void);
size_t host_hooks_blocks_live(void);
size_t host_hooks_blocks_peak(void);

/* tls_mbedtls_entropy_fn over /dev/urandom. */
int host_hooks_entropy(void *ctx, unsigned char *buf, size_t len);

/* tls_mbedtls_time_fn: time(). */
int64_t host_hooks_unix_time(void *ctx);

#endif /* HOST_HOOKS_H */
