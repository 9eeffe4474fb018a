/* lwIP configuration of the qcloud-ota firmware: IPv4 TCP through the socket API (used
 * non-blocking by the OTA task), static address on QEMU's user network, no DHCP, no DNS. */
#ifndef LWIPOPTS_H
#define LWIPOPTS_H

#define NO_SYS 0
#define LWIP_SOCKET 1
#define LWIP_NETCONN 1
#define LWIP_COMPAT_SOCKETS 1
#define LWIP_POSIX_SOCKETS_IO_NAMES 0 /* no read/write/close macros over newlib's */
#define LWIP_SOCKET_SELECT 1
#define LWIP_TIMEVAL_PRIVATE 0 /* newlib's struct timeval */
#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_TCPIP_CORE_LOCKING 1
#define SYS_LIGHTWEIGHT_PROT 1

#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_DHCP 0
/* Loopback names are mapped to QEMU's host alias without a lookup (all the tests use); any other
 * name (Tencent's broker, a COS host) is resolved through QEMU's DNS forwarder at 10.0.2.3. */
#define LWIP_DNS 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_IGMP 0
#define LWIP_STATS 0
#define LWIP_NETIF_API 0
#define LWIP_SO_RCVTIMEO 0
#define LWIP_SO_SNDTIMEO 0

/* QEMU's LAN9118 drops frames once its 10 KiB RX FIFO is full: a receive window of 4 segments
 * keeps every burst inside it (a real LAN9118 has 16 KiB of FIFOs split the same way). */
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF) / TCP_MSS)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1 /* a reboot must not reuse the last boot's ports */

#define MEM_ALIGNMENT 4
#define MEM_SIZE (16 * 1024)
#define MEMP_NUM_PBUF 16
#define MEMP_NUM_TCP_PCB 4
#define MEMP_NUM_TCP_PCB_LISTEN 1
#define MEMP_NUM_TCP_SEG 32
#define MEMP_NUM_NETCONN 4
#define MEMP_NUM_NETBUF 4
#define PBUF_POOL_SIZE 12
#define PBUF_POOL_BUFSIZE 1536

#define TCPIP_THREAD_NAME "tcpip"
#define TCPIP_THREAD_STACKSIZE 2048 /* bytes (LWIP_FREERTOS_THREAD_STACKSIZE_IS_STACKWORDS 0) */
#define TCPIP_THREAD_PRIO 3
#define TCPIP_MBOX_SIZE 16
#define DEFAULT_TCP_RECVMBOX_SIZE 16
#define DEFAULT_UDP_RECVMBOX_SIZE 4
#define DEFAULT_RAW_RECVMBOX_SIZE 4
#define DEFAULT_ACCEPTMBOX_SIZE 4

#endif
