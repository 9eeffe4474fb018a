/*
 * mbedtls_config_ota.h: an mbedTLS 2.28 configuration for the OTA's host TLS on a Cortex-M
 * (and on the host, for the test): a TLS 1.2 client and nothing else.
 *
 * Use it as the whole configuration: compile mbedTLS and tls_mbedtls.c with
 * -DMBEDTLS_CONFIG_FILE='"mbedtls_config_ota.h"' (mbedtls.cmake does). Project-specific
 * changes go into a header named by MBEDTLS_USER_CONFIG_FILE, included at the end.
 *
 * What the servers need:
 * - Tencent's MQTT brokers: an RSA 2048 certificate from Tencent's IoT CA, TLS 1.2;
 *   COS (firmware URLs): public RSA (or ECDSA) chains; the stand-in's test PKI and mosquitto
 *   in the tests: ECDSA P-256. Hence ECDHE with RSA or ECDSA certificates, AES-GCM, SHA-256/384,
 *   curves P-256 and P-384.
 * - Records: the receive buffer must hold the largest record a server sends. Measured with
 *   tests/tls_mbedtls.rs and MBEDTLS_SSL_IN_CONTENT_LEN 4096 (TLS_MBEDTLS_USER_CONFIG, which
 *   makes tls_mbedtls.c ask for max_fragment_length 4096): mosquitto (OpenSSL 3) honours it and
 *   works (heap peak 17.3 KB instead of 29.6 KB with an RSA certificate); the stand-in's rustls
 *   ignores it and sends 16 KiB records, which then fail (-0x7100). Tencent's servers could not
 *   be tried here, so 16384 stays: lower it only for servers you have tried. The outgoing
 *   buffer is ours to size: 4096 takes the library's MQTT packets and HTTP requests in one
 *   record as a rule; a longer write goes out one record per call (tls_mbedtls_send returns a
 *   partial count, which ota_platform.net_send allows).
 */
#ifndef MBEDTLS_CONFIG_OTA_H
#define MBEDTLS_CONFIG_OTA_H

/* ---- system ---------------------------------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM            /* UMAAL bignum multiply on Cortex-M4, x86-64 asm on the host */
/* No MBEDTLS_HAVE_TIME / _DATE: mbedTLS reads no clock; tls_mbedtls.c checks certificate dates
 * against the integrator's time hook instead. */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY     /* mbedtls_platform_set_calloc_free(): pvPortMalloc & co. */
#define MBEDTLS_NO_PLATFORM_ENTROPY /* no /dev/urandom: entropy is the integrator's hook */

/* ---- TLS ------------------------------------------------------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* tls_mbedtls.c asks for max_fragment_length only when MBEDTLS_SSL_IN_CONTENT_LEN < 16384. */
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_CIPHERSUITES                                                              \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,                                          \
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,                                        \
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,                                      \
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
/* The peer's certificate is verified during the handshake and then freed (saves its ~1 KiB). */
#undef MBEDTLS_SSL_KEEP_PEER_CERTIFICATE

/* ---- X.509 ----------------------------------------------------------------------------------- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C /* ECDSA needs it */
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C

/* ---- crypto ---------------------------------------------------------------------------------- */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES   /* tables in flash, not RAM */
#define MBEDTLS_AES_FEWER_TABLES /* 2 KiB of tables instead of 8 KiB */
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C /* SHA-384: the *_SHA384 suites and certificates signed with it */
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDH_LEGACY_CONTEXT
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM /* fast reduction: the handshake's cost is mostly P-256 */

/* Small working sets: public-key operations only, so large windows buy little. */
#define MBEDTLS_MPI_WINDOW_SIZE 2
#define MBEDTLS_MPI_MAX_SIZE 512 /* RSA 4096 in a chain */
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0

#if defined(MBEDTLS_USER_CONFIG_FILE)
#include MBEDTLS_USER_CONFIG_FILE
#endif

#include "mbedtls/check_config.h"

#endif /* MBEDTLS_CONFIG_OTA_H */
