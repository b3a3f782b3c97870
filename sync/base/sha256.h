/*
 * SHA-256 of a stream of bytes, as lowercase hex (sha256.c). Used by the
 * files connector for its duplicate ledger and its manifests, and by the
 * HTTP server for hashed bearer tokens.
 */
#ifndef CPS_SHA256_H
#define CPS_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct cps_sha256 {
	uint32_t h[8];
	uint64_t n;
	uint8_t block[64];
	size_t fill;
};

void cps_sha256_init(struct cps_sha256 *s);
void cps_sha256_update(struct cps_sha256 *s, const void *data, size_t len);
/* The digest of everything updated, as 64 hex digits and a NUL. */
void cps_sha256_final_hex(struct cps_sha256 *s, char hex[65]);

#endif
