/* sha256.h: SHA-256 (FIPS 180-4), streaming, for verifying downloaded models
 * against the Hugging Face LFS oid.
 *
 * Own code instead of OpenSSL/libcrypto: one hash is all the downloader needs,
 * and a 150-line portable implementation keeps the tool's dependencies to
 * libcurl + cJSON. Speed (about 200-400 MB/s, scalar) is well above download
 * rates. Tested against the FIPS 180-4 / NIST example vectors in
 * tests/pull/test_pull.c. */
#ifndef AG_PULL_SHA256_H
#define AG_PULL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ag_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;        /* total message length so far */
    uint8_t buf[64];         /* pending partial block */
    size_t n_buf;
} ag_sha256;

void ag_sha256_init(ag_sha256 *s);
void ag_sha256_update(ag_sha256 *s, const void *data, size_t n);
/* Finishes the hash into out[32]; s must be re-initialized before reuse. */
void ag_sha256_final(ag_sha256 *s, uint8_t out[32]);
/* Finishes the hash as 64 lowercase hex digits plus NUL. */
void ag_sha256_final_hex(ag_sha256 *s, char hex[65]);

#endif
