/* mbedTLS configuration of the MD5 reference the bench times against the download path (only
 * md5.c is compiled with it; see main.c, bench=1). */
#ifndef BENCH_MD5_CONFIG_H
#define BENCH_MD5_CONFIG_H
#define MBEDTLS_MD5_C
#endif
