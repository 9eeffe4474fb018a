/*
 * lan9118_netif: an lwIP network interface over the SMSC LAN9118 Ethernet controller as QEMU's
 * mps2-an386 places it (0x40200000, IRQ 13). Receive is interrupt-driven: the ISR wakes a task
 * that drains the RX FIFO into pbufs and hands them to tcpip_input; transmit writes the frame
 * into the TX FIFO from lwIP's thread (under the core lock).
 */
#ifndef LAN9118_NETIF_H
#define LAN9118_NETIF_H

#include "lwip/err.h"
#include "lwip/netif.h"

/* For netif_add(..., lan9118_netif_init, tcpip_input). */
err_t lan9118_netif_init(struct netif *netif);
/* The IRQ 13 vector. */
void lan9118_irq_handler(void);
/* Frames dropped because no pbuf was free, since boot. */
uint32_t lan9118_rx_dropped(void);

#endif
