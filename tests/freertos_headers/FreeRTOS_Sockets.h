/* Declaration-only stand-in for FreeRTOS+TCP FreeRTOS_Sockets.h (the V3 / V4 backward-compatible
 * IPv4 API; see FreeRTOS.h here). */
#ifndef FREERTOS_SOCKETS_H_STANDIN
#define FREERTOS_SOCKETS_H_STANDIN
#include "FreeRTOS.h"
typedef struct xSOCKET *Socket_t;
typedef uint32_t socklen_t;
struct freertos_sockaddr {
    uint8_t sin_len;
    uint8_t sin_family;
    uint16_t sin_port;
    uint32_t sin_addr;
};
#define FREERTOS_INVALID_SOCKET ((Socket_t)~0U)
#define FREERTOS_AF_INET 2
#define FREERTOS_SOCK_STREAM 1
#define FREERTOS_IPPROTO_TCP 6
#define FREERTOS_SO_RCVTIMEO 0
#define FREERTOS_SO_SNDTIMEO 1
#define FREERTOS_MSG_DONTWAIT 2
#define FREERTOS_SHUT_RDWR 2
Socket_t FreeRTOS_socket(BaseType_t xDomain, BaseType_t xType, BaseType_t xProtocol);
BaseType_t FreeRTOS_setsockopt(Socket_t xSocket, int32_t lLevel, int32_t lOptionName,
                               const void *pvOptionValue, size_t uxOptionLength);
BaseType_t FreeRTOS_connect(Socket_t xClientSocket, struct freertos_sockaddr *pxAddress,
                            socklen_t xAddressLength);
BaseType_t FreeRTOS_send(Socket_t xSocket, const void *pvBuffer, size_t uxDataLength,
                         BaseType_t xFlags);
BaseType_t FreeRTOS_recv(Socket_t xSocket, void *pvBuffer, size_t uxBufferLength,
                         BaseType_t xFlags);
BaseType_t FreeRTOS_shutdown(Socket_t xSocket, BaseType_t xHow);
BaseType_t FreeRTOS_closesocket(Socket_t xSocket);
BaseType_t FreeRTOS_issocketconnected(Socket_t xSocket);
uint32_t FreeRTOS_gethostbyname(const char *pcHostName);
#endif
