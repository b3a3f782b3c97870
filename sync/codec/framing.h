/*
 * How an Avro body travels: bare (raw), in the Confluent wire format
 * (0x00, 4-byte big-endian schema id, body) or in Avro single-object
 * encoding (0xC3 0x01, 8-byte little-endian CRC-64-AVRO fingerprint, body).
 */
#ifndef CPS_FRAMING_H
#define CPS_FRAMING_H

#include "base/buf.h"
#include <stddef.h>
#include <stdint.h>

enum cps_framing {
	CPS_FRAMING_RAW,
	CPS_FRAMING_CONFLUENT,
	CPS_FRAMING_SINGLE_OBJECT,
};

struct cps_frame {
	enum cps_framing framing;
	int32_t schema_id;    /* confluent */
	uint64_t fingerprint; /* single-object */
	const uint8_t *body;  /* points into the input */
	size_t body_len;
};

/* "raw", "confluent", "single-object"; -1 if unknown. */
int cps_framing_from_name(const char *name, enum cps_framing *out);
const char *cps_framing_name(enum cps_framing f);

/* Splits a framed message; CPS_ERR_INVALID with a reason on a bad header. */
int cps_frame_parse(enum cps_framing framing, const void *buf, size_t len, struct cps_frame *out,
                    char *errstr, size_t errstr_size);
/* Appends the header for `framing` (nothing for raw). */
int cps_frame_write_header(enum cps_framing framing, int32_t schema_id, uint64_t fingerprint,
                           struct cps_buf *out);

#endif
