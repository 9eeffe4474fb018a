/* modem_link: framing, CRC and request/reply matching over UART0 (see modem_link.h). */
#include "modem_link.h"

#include "board.h"

static uint8_t next_seq;
static uint32_t errors;

static uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
    int i;
    crc ^= (uint16_t)(b << 8);
    for (i = 0; i < 8; i++)
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    return crc;
}

static uint16_t put(uint16_t crc, uint8_t b)
{
    uart_putc(b);
    return crc16_byte(crc, b);
}

uint8_t link_send(uint8_t type, uint8_t handle, const void *a, size_t a_len, const void *b,
                  size_t b_len)
{
    const uint8_t *pa = a, *pb = b;
    size_t len = a_len + b_len, i;
    uint16_t crc = 0xFFFFu;
    uint8_t seq = next_seq++;

    uart_putc(0x7E);
    uart_putc(0x51);
    crc = put(crc, type);
    crc = put(crc, handle);
    crc = put(crc, seq);
    crc = put(crc, (uint8_t)(len & 0xFFu));
    crc = put(crc, (uint8_t)(len >> 8));
    for (i = 0; i < a_len; i++)
        crc = put(crc, pa[i]);
    for (i = 0; i < b_len; i++)
        crc = put(crc, pb[i]);
    uart_putc((uint8_t)(crc & 0xFFu));
    uart_putc((uint8_t)(crc >> 8));
    return seq;
}

/* One frame; the payload lands in buf. 1: a frame, 0: bad frame (counted), -1: timeout. */
static int read_frame(uint8_t *hdr, uint8_t *buf, size_t cap, size_t *len, uint64_t deadline)
{
    int c, prev = -1;
    size_t i, n;
    uint16_t crc = 0xFFFFu, got;

    /* Hunt for the magic: whatever came before it is noise. */
    for (;;) {
        if ((c = uart_getc_until(deadline)) < 0)
            return -1;
        if (prev == 0x7E && c == 0x51)
            break;
        prev = c;
    }
    for (i = 0; i < 5; i++) {
        if ((c = uart_getc_until(deadline)) < 0)
            return -1;
        hdr[i] = (uint8_t)c;
        crc = crc16_byte(crc, hdr[i]);
    }
    n = (size_t)hdr[3] | ((size_t)hdr[4] << 8);
    if (n > LINK_MAX_PAYLOAD || n > cap) {
        errors++;
        return 0; /* the next hunt skips the payload */
    }
    for (i = 0; i < n; i++) {
        if ((c = uart_getc_until(deadline)) < 0)
            return -1;
        buf[i] = (uint8_t)c;
        crc = crc16_byte(crc, buf[i]);
    }
    got = 0;
    for (i = 0; i < 2; i++) {
        if ((c = uart_getc_until(deadline)) < 0)
            return -1;
        got |= (uint16_t)((unsigned)c << (8 * i));
    }
    if (got != crc) {
        errors++;
        return 0;
    }
    *len = n;
    return 1;
}

int link_reply(uint8_t seq, uint8_t *buf, size_t cap, size_t *len, uint32_t timeout_ms)
{
    uint64_t deadline = board_now_ms() + timeout_ms;
    uint8_t hdr[5];
    int r;

    for (;;) {
        r = read_frame(hdr, buf, cap, len, deadline);
        if (r < 0)
            return -1;
        if (r == 0)
            return -1; /* a damaged reply: the caller sees a link error, never wrong data */
        if (hdr[2] == seq)
            return hdr[0];
        errors++; /* a reply to an earlier request that had timed out */
    }
}

uint32_t link_errors(void) { return errors; }
