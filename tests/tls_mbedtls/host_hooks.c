/* host_hooks.c: see host_hooks.h. */
#include "host_hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mbedtls/platform.h"

static size_t heap_live, heap_peak, blocks_live, blocks_peak;

typedef union { /* C99 has no max_align_t: the widest scalars keep the payload aligned */
    size_t size;
    long double ld;
    long long ll;
    void *p;
} block_head;

static void *count_calloc(size_t n, size_t size)
{
    block_head *h;
    if (size != 0 && n > (SIZE_MAX - sizeof *h) / size)
        return NULL;
    h = calloc(1, sizeof *h + n * size);
    if (h == NULL)
        return NULL;
    h->size = n * size;
    heap_live += h->size;
    blocks_live++;
    if (heap_live > heap_peak)
        heap_peak = heap_live;
    if (blocks_live > blocks_peak)
        blocks_peak = blocks_live;
    return h + 1;
}

static void count_free(void *p)
{
    block_head *h;
    if (p == NULL)
        return;
    h = (block_head *)p - 1;
    heap_live -= h->size;
    blocks_live--;
    free(h);
}

void host_hooks_count_heap(void)
{
    mbedtls_platform_set_calloc_free(count_calloc, count_free);
}

size_t host_hooks_heap_live(void) { return heap_live; }
size_t host_hooks_heap_peak(void) { return heap_peak; }
size_t host_hooks_blocks_live(void) { return blocks_live; }
size_t host_hooks_blocks_peak(void) { return blocks_peak; }

int host_hooks_entropy(void *ctx, unsigned char *buf, size_t len)
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f != NULL ? fread(buf, 1, len, f) : 0;
    (void)ctx;
    if (f != NULL)
        fclose(f);
    return got == len ? 0 : -1;
}

int64_t host_hooks_unix_time(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}
