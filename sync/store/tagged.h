/*
 * The tagged binary JSON of the key state's stored forms (state_facts.c's
 * layout, documented there; the typed codec, state_typed.c): LEB128
 * varints, zig-zag integers, length-prefixed strings, little-endian
 * doubles, and the value tags. The reader is bounds-checked: it never reads
 * past its bytes and names its first failure.
 */
#ifndef CPS_TAGGED_H
#define CPS_TAGGED_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

enum cps_tag {
	CPS_TAG_NULL,
	CPS_TAG_FALSE,
	CPS_TAG_TRUE,
	CPS_TAG_INT,
	CPS_TAG_REAL,
	CPS_TAG_STR,
	CPS_TAG_ARRAY,
	CPS_TAG_OBJECT,
};

/* 0, or -1 when out of memory or past out's limit. */
int cps_tag_put_varint(struct cps_buf *b, uint64_t v);
int cps_tag_put_zz(struct cps_buf *b, int64_t v);
int cps_tag_put_str(struct cps_buf *b, const char *s, size_t n);
int cps_tag_put_real(struct cps_buf *b, double d);

/* A read position in untrusted bytes; `err` names the first failure. */
struct cps_tag_reader {
	const uint8_t *p;
	size_t n, at;
	const char *err;
};

/* Notes `why` as the failure (the first one stays); returns -1. */
int cps_tag_fail(struct cps_tag_reader *r, const char *why);
/* Each 0, or -1 with r->err set. */
int cps_tag_byte(struct cps_tag_reader *r, uint8_t *v);
int cps_tag_varint(struct cps_tag_reader *r, uint64_t *v);
int cps_tag_zz(struct cps_tag_reader *r, int64_t *v);
/* A count of items that take at least `min` bytes each: no more than fit. */
int cps_tag_count(struct cps_tag_reader *r, size_t min, size_t *n);
/* A string: *s points into the bytes (not NUL-terminated). */
int cps_tag_str(struct cps_tag_reader *r, const char **s, size_t *len);
/* 8 bytes of an IEEE double, little-endian. */
int cps_tag_real(struct cps_tag_reader *r, double *d);

#endif
