/*
 * modem_link: the firmware's end of a framed request/reply link over the UART, the way a cellular
 * modem's AT socket commands work (open, send, read, close by link id), to a host-side bridge
 * that opens the real TCP connections (standin/src/uart_bridge.rs is the other end).
 *
 * Frame, both directions (little-endian):
 *   0x7E 0x51 | type u8 | handle u8 | seq u8 | len u16 | payload[len] | crc u16
 * crc = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over type..payload. len <= LINK_MAX_PAYLOAD.
 * A reply echoes the request's type-independent seq, so a late or duplicated reply is never taken
 * for the answer to a newer request; a receiver that sees a bad CRC drops the frame and hunts for
 * the next 0x7E 0x51.
 *
 * Requests (firmware -> bridge) and their replies:
 *   'H' hello    payload "boot=N"                      -> 'C' config: "key=value\0..." pairs
 *   'O' open     port u16, flags u8, channel u8, host  -> 'R' result i32 (0 or OTA_NET_ERROR)
 *   'S' send     data                                  -> 'R' bytes taken, OTA_NET_WOULD_BLOCK/ERROR
 *   'V' receive  max u16                               -> 'D' data (empty: would block), or
 *                                                         'R' 0 (peer closed) / OTA_NET_ERROR
 *   'X' close                                          -> 'R' 0
 * Notices (no reply): 'L' log line (level in handle), 'W' slot dump (offset u32 + data),
 *   'E' end of run (text "key=value ..." results; handle = exit status).
 */
#ifndef MODEM_LINK_H
#define MODEM_LINK_H

#include <stddef.h>
#include <stdint.h>

#define LINK_MAX_PAYLOAD 4096u

#define LINK_HELLO 'H'
#define LINK_CONFIG 'C'
#define LINK_OPEN 'O'
#define LINK_SEND 'S'
#define LINK_RECV 'V'
#define LINK_CLOSE 'X'
#define LINK_RESULT 'R'
#define LINK_DATA 'D'
#define LINK_LOG 'L'
#define LINK_DUMP 'W'
#define LINK_END 'E'

/* Send one frame whose payload is a followed by b (either may be empty). Returns its seq. */
uint8_t link_send(uint8_t type, uint8_t handle, const void *a, size_t a_len, const void *b,
                  size_t b_len);

/* Wait up to timeout_ms for the reply to `seq`; its payload goes to buf (at most cap bytes).
 * Returns the reply type and sets *len, or -1 on timeout, bad CRC or a payload over cap. */
int link_reply(uint8_t seq, uint8_t *buf, size_t cap, size_t *len, uint32_t timeout_ms);

/* Frames dropped so far (bad CRC, oversize, stale seq). */
uint32_t link_errors(void);

#endif
