/*
 * Message framings (see framing.h): splitting a received message into its
 * header fields and Avro body, and writing the header of an outgoing one.
 * Confluent: 0x00 + big-endian int32 schema id; single-object: C3 01 +
 * little-endian uint64 CRC-64-AVRO fingerprint; raw: the body alone.
 */
#include "codec/framing.h"
#include "base/common.h"

#include <string.h>

#define CONFLUENT_MAGIC       0x00
#define CONFLUENT_HEADER_LEN  5
#define SINGLE_OBJECT_MAGIC0  0xC3
#define SINGLE_OBJECT_MAGIC1  0x01
#define SINGLE_OBJECT_HDR_LEN 10

static const char *const framing_names[] = {
    [CPS_FRAMING_RAW] = "raw",
    [CPS_FRAMING_CONFLUENT] = "confluent",
    [CPS_FRAMING_SINGLE_OBJECT] = "single-object",
};

int cps_framing_from_name(const char *name, enum cps_framing *out)
{
	size_t i;

	if (!name)
		return -1;
	for (i = 0; i < CPS_ARRAY_SIZE(framing_names); i++) {
		if (strcmp(name, framing_names[i]) == 0) {
			*out = (enum cps_framing)i;
			return CPS_OK;
		}
	}
	return -1;
}

const char *cps_framing_name(enum cps_framing f)
{
	if ((unsigned)f < CPS_ARRAY_SIZE(framing_names))
		return framing_names[f];
	return "unknown";
}

/* Error texts stay on one line each (greppable): keep them short. */
static int too_short(const char *what, size_t len, int need, char *errstr, size_t errstr_size)
{
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "not %s: %zu bytes, the header needs %d", what, len, need);
}

static int parse_confluent(const uint8_t *p, size_t len, struct cps_frame *out, char *errstr,
                           size_t errstr_size)
{
	static const char what[] = "Confluent wire format";

	if (len >= 1 && p[0] != CONFLUENT_MAGIC)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "not %s: magic byte 0x%02X, expected 0x00", what, p[0]);
	if (len < CONFLUENT_HEADER_LEN)
		return too_short(what, len, CONFLUENT_HEADER_LEN, errstr, errstr_size);
	out->schema_id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
	                           ((uint32_t)p[3] << 8) | (uint32_t)p[4]);
	if (out->schema_id < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "not %s: negative schema id %d", what, out->schema_id);
	out->body = p + CONFLUENT_HEADER_LEN;
	out->body_len = len - CONFLUENT_HEADER_LEN;
	return CPS_OK;
}

static int parse_single_object(const uint8_t *p, size_t len, struct cps_frame *out, char *errstr,
                               size_t errstr_size)
{
	static const char what[] = "Avro single-object encoding";
	uint64_t fp = 0;
	int i;

	if (len >= 1 && p[0] != SINGLE_OBJECT_MAGIC0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "not %s: magic byte 0x%02X, expected 0xC3", what, p[0]);
	if (len >= 2 && p[1] != SINGLE_OBJECT_MAGIC1)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "not %s: second byte 0x%02X, expected 0x01", what, p[1]);
	if (len < SINGLE_OBJECT_HDR_LEN)
		return too_short(what, len, SINGLE_OBJECT_HDR_LEN, errstr, errstr_size);
	for (i = 7; i >= 0; i--)
		fp = (fp << 8) | p[2 + i];
	out->fingerprint = fp;
	out->body = p + SINGLE_OBJECT_HDR_LEN;
	out->body_len = len - SINGLE_OBJECT_HDR_LEN;
	return CPS_OK;
}

int cps_frame_parse(enum cps_framing framing, const void *buf, size_t len, struct cps_frame *out,
                    char *errstr, size_t errstr_size)
{
	const uint8_t *p = buf;

	memset(out, 0, sizeof(*out));
	out->framing = framing;
	if (!p && len)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "frame parse given a NULL buffer of %zu bytes", len);
	switch (framing) {
	case CPS_FRAMING_RAW:
		out->body = p;
		out->body_len = len;
		return CPS_OK;
	case CPS_FRAMING_CONFLUENT:
		return parse_confluent(p, len, out, errstr, errstr_size);
	case CPS_FRAMING_SINGLE_OBJECT:
		return parse_single_object(p, len, out, errstr, errstr_size);
	}
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "unknown framing %d", (int)framing);
}

/* A full buffer (its cap reached) means the message is too big: retrying
 * cannot help, so that is CPS_ERR_INVALID like any oversized input. */
static int append_header(struct cps_buf *out, const uint8_t *hdr, size_t n)
{
	return cps_buf_append(out, hdr, n) < 0 ? CPS_ERR_INVALID : CPS_OK;
}

int cps_frame_write_header(enum cps_framing framing, int32_t schema_id, uint64_t fingerprint,
                           struct cps_buf *out)
{
	uint8_t hdr[SINGLE_OBJECT_HDR_LEN];
	uint32_t id = (uint32_t)schema_id;
	int i;

	switch (framing) {
	case CPS_FRAMING_RAW:
		return CPS_OK;
	case CPS_FRAMING_CONFLUENT:
		if (schema_id < 0)
			return CPS_ERR_INVALID;
		hdr[0] = CONFLUENT_MAGIC;
		hdr[1] = (uint8_t)(id >> 24);
		hdr[2] = (uint8_t)(id >> 16);
		hdr[3] = (uint8_t)(id >> 8);
		hdr[4] = (uint8_t)id;
		return append_header(out, hdr, CONFLUENT_HEADER_LEN);
	case CPS_FRAMING_SINGLE_OBJECT:
		hdr[0] = SINGLE_OBJECT_MAGIC0;
		hdr[1] = SINGLE_OBJECT_MAGIC1;
		for (i = 0; i < 8; i++)
			hdr[2 + i] = (uint8_t)(fingerprint >> (8 * i));
		return append_header(out, hdr, SINGLE_OBJECT_HDR_LEN);
	}
	return CPS_ERR_FATAL;
}
