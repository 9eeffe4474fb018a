/* lan9118_netif: register layout from the LAN9118 datasheet, as QEMU's hw/net/lan9118.c models it. */
#include "lan9118_netif.h"

#include <stdbool.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "lwip/tcpip.h"
#include "netif/ethernet.h"

#define LAN_BASE 0x40200000u
#define LAN_IRQ 13
#define REG(off) (*(volatile uint32_t *)(LAN_BASE + (off)))
#define RX_DATA_FIFO REG(0x00)
#define TX_DATA_FIFO REG(0x20)
#define RX_STATUS_FIFO REG(0x40)
#define TX_STATUS_FIFO REG(0x48)
#define ID_REV REG(0x50)
#define IRQ_CFG REG(0x54)
#define INT_STS REG(0x58)
#define INT_EN REG(0x5C)
#define BYTE_TEST REG(0x64)
#define FIFO_INT REG(0x68)
#define RX_CFG REG(0x6C)
#define TX_CFG REG(0x70)
#define HW_CFG REG(0x74)
#define RX_FIFO_INF REG(0x7C)
#define TX_FIFO_INF REG(0x80)
#define MAC_CSR_CMD REG(0xA4)
#define MAC_CSR_DATA REG(0xA8)

#define IRQ_CFG_EN 0x100u
#define IRQ_CFG_POL_HIGH 0x10u
#define IRQ_CFG_PUSH_PULL 0x1u
#define INT_RSFL 0x8u /* RX status FIFO above its level (0: any frame) */
#define TX_CFG_ON 0x2u
#define MAC_CSR_BUSY 0x80000000u
#define MAC_CSR_READ 0x40000000u
#define MAC_CR 1
#define MAC_ADDRH 2
#define MAC_ADDRL 3
#define MAC_CR_TXEN 0x8u
#define MAC_CR_RXEN 0x4u
#define MAC_CR_FDPX 0x100000u
#define RX_STS_ERROR 0x8000u
#define TX_CMD_A_FIRST 0x2000u
#define TX_CMD_A_LAST 0x1000u

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_IPR ((volatile uint8_t *)0xE000E400u)
/* Lowest urgency, below configMAX_SYSCALL_INTERRUPT_PRIORITY (FromISR calls are allowed). */
#define LAN_IRQ_PRIORITY 0xE0u

#define FRAME_MAX 1536

static TaskHandle_t rx_task;
static struct netif *the_netif;
static uint32_t rx_dropped;
/* Word-aligned staging for one frame each way; TX runs under lwIP's core lock, RX in its task. */
static uint32_t tx_frame[FRAME_MAX / 4], rx_frame[FRAME_MAX / 4];

static uint32_t mac_read(uint32_t reg)
{
    MAC_CSR_CMD = MAC_CSR_BUSY | MAC_CSR_READ | reg;
    while (MAC_CSR_CMD & MAC_CSR_BUSY)
        ;
    return MAC_CSR_DATA;
}

static void mac_write(uint32_t reg, uint32_t value)
{
    MAC_CSR_DATA = value;
    MAC_CSR_CMD = MAC_CSR_BUSY | reg;
    while (MAC_CSR_CMD & MAC_CSR_BUSY)
        ;
}

void lan9118_irq_handler(void)
{
    BaseType_t woken = pdFALSE;
    INT_STS = INT_RSFL; /* write 1 to clear; the task drains whatever is queued */
    if (rx_task)
        vTaskNotifyGiveFromISR(rx_task, &woken);
    portYIELD_FROM_ISR(woken);
}

uint32_t lan9118_rx_dropped(void) { return rx_dropped; }

static void rx_one(void)
{
    uint32_t status = RX_STATUS_FIFO;
    uint32_t len = (status >> 16) & 0x3FFFu; /* frame + 4 bytes of CRC */
    uint32_t words = (len + 3u) / 4u, i;
    struct pbuf *p = NULL;
    bool keep = !(status & RX_STS_ERROR) && len > 4u && words <= FRAME_MAX / 4;
    if (!keep) {
        for (i = 0; i < words; i++)
            (void)RX_DATA_FIFO;
        rx_dropped++;
        return;
    }
    for (i = 0; i < words; i++)
        rx_frame[i] = RX_DATA_FIFO;
    p = pbuf_alloc(PBUF_RAW, (u16_t)(len - 4u), PBUF_POOL);
    if (p == NULL) {
        rx_dropped++; /* TCP retransmits */
        return;
    }
    (void)pbuf_take(p, rx_frame, (u16_t)(len - 4u));
    if (the_netif->input(p, the_netif) != ERR_OK)
        pbuf_free(p);
}

static void rx_loop(void *arg)
{
    (void)arg;
    for (;;) {
        /* The timeout only guards against a lost wake-up. */
        (void)ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(100));
        while ((RX_FIFO_INF >> 16) & 0xFFu)
            rx_one();
    }
}

static err_t link_output(struct netif *netif, struct pbuf *p)
{
    uint32_t len = p->tot_len, words, i;
    (void)netif;
    if (len > FRAME_MAX)
        return ERR_BUF;
    words = (len + 3u) / 4u;
    /* Room (TDFREE, bytes) for the two command words and the frame; QEMU sends each frame at
     * once and reports its free space in words, which only makes this wait shorter. */
    while ((TX_FIFO_INF & 0xFFFFu) < (words + 2u) * 4u)
        ;
    (void)pbuf_copy_partial(p, tx_frame, (u16_t)len, 0);
    TX_DATA_FIFO = TX_CMD_A_FIRST | TX_CMD_A_LAST | len;
    TX_DATA_FIFO = (len << 16) | len; /* tag, length */
    for (i = 0; i < words; i++)
        TX_DATA_FIFO = tx_frame[i];
    while ((TX_FIFO_INF >> 16) & 0xFFu) /* TX status words: nothing to learn from them */
        (void)TX_STATUS_FIFO;
    return ERR_OK;
}

err_t lan9118_netif_init(struct netif *netif)
{
    uint32_t lo, hi;
    if (BYTE_TEST != 0x87654321u || (ID_REV >> 16) != 0x0118u)
        return ERR_IF;
    HW_CFG = 1u; /* soft reset */
    while (HW_CFG & 1u)
        ;
    lo = mac_read(MAC_ADDRL); /* QEMU's -nic macaddr, from the EEPROM */
    hi = mac_read(MAC_ADDRH);
    netif->hwaddr_len = 6;
    netif->hwaddr[0] = (u8_t)lo;
    netif->hwaddr[1] = (u8_t)(lo >> 8);
    netif->hwaddr[2] = (u8_t)(lo >> 16);
    netif->hwaddr[3] = (u8_t)(lo >> 24);
    netif->hwaddr[4] = (u8_t)hi;
    netif->hwaddr[5] = (u8_t)(hi >> 8);
    netif->mtu = 1500;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET
                   | NETIF_FLAG_LINK_UP;
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->output = etharp_output;
    netif->linkoutput = link_output;
    the_netif = netif;

    RX_CFG = 0;               /* no offset, no end padding */
    FIFO_INT = 0x48000000u;   /* RX status level 0: interrupt for every frame */
    TX_CFG = TX_CFG_ON;
    mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX); /* own address + broadcast */
    if (xTaskCreate(rx_loop, "lan_rx", 384, NULL, configMAX_PRIORITIES - 1, &rx_task) != pdPASS)
        return ERR_MEM;
    INT_STS = 0xFFFFFFFFu;
    INT_EN = INT_RSFL;
    IRQ_CFG = IRQ_CFG_EN | IRQ_CFG_POL_HIGH | IRQ_CFG_PUSH_PULL; /* active-high level */
    NVIC_IPR[LAN_IRQ] = LAN_IRQ_PRIORITY;
    NVIC_ISER0 = 1u << LAN_IRQ;
    return ERR_OK;
}
