/*
 * Avro Object Container Files without Avro C's file reader (which trusts
 * hostile bytes): a header parser (magic, metadata map, sync marker), a block
 * iterator with hard caps on count, size and inflated size (codecs null and
 * deflate), a schema-driven record splitter, and writers for the header and
 * blocks. Everything works on memory; the files connector does the I/O.
 */
#ifndef CPS_OCF_H
#define CPS_OCF_H

#include "base/buf.h"

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPS_OCF_SYNC_SIZE 16

enum cps_ocf_codec {
	CPS_OCF_NULL,
	CPS_OCF_DEFLATE,
};

struct cps_ocf_limits {
	size_t max_header_bytes;   /* metadata map; default 1 MiB */
	size_t max_block_bytes;    /* one block as stored; default 16 MiB */
	size_t max_inflated_bytes; /* one block after inflating; default 64 MiB */
	int64_t max_block_count;   /* records in one block; default 1,000,000 */
	unsigned max_depth;        /* nesting while splitting records; default 64 */
};

void cps_ocf_limits_default(struct cps_ocf_limits *l);

/* "null" / "deflate"; CPS_ERR_INVALID for any other name. */
int cps_ocf_codec_from_name(const char *name, enum cps_ocf_codec *out);
const char *cps_ocf_codec_name(enum cps_ocf_codec c);

struct cps_ocf_reader;

/* Parses the header of the file image `buf` (borrowed: it must outlive the
 * reader). CPS_ERR_INVALID with a reason when it is not an OCF, the header is
 * malformed, the codec is unknown or the schema does not parse. `limits` may
 * be NULL. */
int cps_ocf_reader_open(const void *buf, size_t len, const struct cps_ocf_limits *limits,
                        struct cps_ocf_reader **out, char *errstr, size_t errstr_size);
void cps_ocf_reader_free(struct cps_ocf_reader *r);

/* The writer schema: its JSON text (NUL-terminated, borrowed) and the Avro C
 * schema (borrowed, valid for the reader's lifetime). */
const char *cps_ocf_reader_schema_json(struct cps_ocf_reader *r);
avro_schema_t cps_ocf_reader_schema(struct cps_ocf_reader *r);
enum cps_ocf_codec cps_ocf_reader_codec(struct cps_ocf_reader *r);

/* The next record: returns 1 with *rec and *len pointing into the reader's
 * current block (valid until the next call) and *index its 0-based number in
 * the file; 0 at a clean end of file; CPS_ERR_INVALID with a reason when the
 * framing is broken (truncated, bad sync marker, bad count or size, deflate
 * error or bomb): the file ends there, records returned before stand.
 * A record whose structure cannot be followed (a length past the block) is
 * returned together with the rest of its block as one record, so that the
 * engine dead-letters it; the index then skips the block's remaining count. */
int cps_ocf_reader_next(struct cps_ocf_reader *r, const void **rec, size_t *len, int64_t *index,
                        char *errstr, size_t errstr_size);

/* The size of one datum of `schema` at the start of buf (structure only: enum
 * indexes and UTF-8 are the guard's business). CPS_ERR_INVALID when it runs
 * past len, nests deeper than max_depth or has an impossible union index. */
int cps_ocf_datum_size(avro_schema_t schema, const void *buf, size_t len, unsigned max_depth,
                       size_t *size);

/* Appends a header: magic, metadata {avro.schema, avro.codec}, sync marker. */
int cps_ocf_write_header(struct cps_buf *out, const char *schema_json, enum cps_ocf_codec codec,
                         const uint8_t sync[CPS_OCF_SYNC_SIZE]);
/* Appends one block of `count` records whose concatenated binary is data. */
int cps_ocf_write_block(struct cps_buf *out, enum cps_ocf_codec codec,
                        const uint8_t sync[CPS_OCF_SYNC_SIZE], int64_t count, const void *data,
                        size_t len, char *errstr, size_t errstr_size);

#endif
