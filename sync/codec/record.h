/*
 * Typed records: a schema compiled once into a table of types and fields,
 * and values as arrays of tagged values (struct cps_tval) that live in an
 * arena (base/arena.h) — no malloc per value, no JSON. The decoder reads
 * Avro binary straight into them and is safe on hostile bytes by itself
 * (the guard's rules, codec/guard.h); the encoder writes them back.
 *
 * Logical types: decimal (bytes or fixed) becomes a scaled int64 (the
 * scale is the type's), date an int of days since 1970-01-01,
 * timestamp-millis a long of ms since the epoch. A logical type Avro's
 * specification calls invalid (decimal with scale > precision, date on a
 * long, ...) is ignored: the value keeps its underlying type.
 */
#ifndef CPS_RECORD_H
#define CPS_RECORD_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "codec/guard.h"
#include "codec/schema.h"

enum cps_rkind {
	CPS_RK_NULL,
	CPS_RK_BOOLEAN,
	CPS_RK_INT,
	CPS_RK_LONG,
	CPS_RK_FLOAT,
	CPS_RK_DOUBLE,
	CPS_RK_STRING,
	CPS_RK_BYTES,
	CPS_RK_FIXED,
	CPS_RK_ENUM,
	CPS_RK_RECORD,
	CPS_RK_ARRAY,
	CPS_RK_MAP,
	CPS_RK_UNION,
};

enum cps_logical {
	CPS_LOGICAL_NONE,
	CPS_LOGICAL_DECIMAL,          /* on bytes or fixed: u.i unscaled, type->scale */
	CPS_LOGICAL_DATE,             /* on int: u.i days since 1970-01-01 */
	CPS_LOGICAL_TIMESTAMP_MILLIS, /* on long: u.i ms since the Unix epoch, UTC */
};

struct cps_rtype;

/* One field of a record type. */
struct cps_rfield {
	const char *name;
	struct cps_rtype *type;
	uint32_t index; /* position in the record (and in its value array) */
	int nullable;   /* the type is a union with a "null" branch */
};

/* A compiled type. Named types (record, enum, fixed) appear once and are
 * shared wherever they are referenced, recursive ones included. */
struct cps_rtype {
	enum cps_rkind kind;
	enum cps_logical logical;
	int32_t precision, scale; /* decimal */
	const char *name;         /* full name of a record, enum or fixed; else NULL */
	size_t size;              /* fixed: its size in bytes */
	size_t n;                 /* record: fields; enum: symbols; union: branches */
	struct cps_rfield *fields;
	const char **symbols;
	struct cps_rtype **branches;
	int32_t null_branch;     /* union: index of its "null" branch, or -1 */
	struct cps_rtype *items; /* array items, map values */
};

/* A compiled schema. Owns every type, field and name in it. */
struct cps_record_schema {
	struct cps_rtype *root;
	avro_schema_t avro; /* a reference of its own */
	struct cps_arena arena;
};

/* Compiles `schema` (its Avro C schema for the structure, its JSON for the
 * logical types, which Avro C does not keep). On success *out is owned by
 * the caller (cps_record_schema_free); `schema` may then go away. */
int cps_record_schema_new(const struct cps_schema *schema, struct cps_record_schema **out,
                          char *errstr, size_t errstr_size);
/* The same from an Avro C schema and its JSON text's parse (json may be
 * NULL: no logical types). Takes a reference of its own to `avro`. */
int cps_record_schema_compile(avro_schema_t avro, const json_t *json,
                              struct cps_record_schema **out, char *errstr, size_t errstr_size);
void cps_record_schema_free(struct cps_record_schema *rs);
/* The field of record type `t` called `name`, or NULL. */
const struct cps_rfield *cps_rtype_field(const struct cps_rtype *t, const char *name);

/* The name a union branch of type `t` goes by in Avro JSON: its full name
 * when it is named, else its type's ("string", "map"). */
const char *cps_rtype_json_name(const struct cps_rtype *t);
/* Whether `name` names union branch type `t` in Avro JSON: its full name,
 * its name without the namespace, or its type's. */
int cps_rtype_branch_named(const struct cps_rtype *t, const char *name);

/* A value. `kind` is the kind of the value itself (for a union: of the
 * branch it holds, and `branch` says which; -1 outside unions). */
struct cps_tval {
	uint8_t kind;    /* enum cps_rkind */
	uint8_t logical; /* enum cps_logical, as the type says */
	uint16_t reserved;
	int32_t branch;
	union {
		int64_t i; /* boolean 0/1, int, long, enum index, decimal, date, timestamp */
		float f;   /* float (kept as float: its bits round-trip exactly) */
		double d;  /* double */
		struct {
			const uint8_t *ptr; /* string (UTF-8, not NUL-terminated), bytes, fixed */
			size_t len;
		} b;
		struct {
			struct cps_tval *v; /* record: n fields in schema order; array: n */
			size_t n;           /* items; map: n entries as 2n values key, value */
		} list;
	} u;
};

/* Decoder flag: copy strings, bytes and fixed into the arena (otherwise
 * they point into `buf`, which must then outlive the value). */
#define CPS_RECORD_COPY_BYTES 1u

/* Decodes `buf` — exactly one datum of `rs`, written with the same schema
 * — into *out. Every node of the value is allocated in `arena`, so it lives
 * until the arena is reset; without CPS_RECORD_COPY_BYTES, strings and bytes
 * also point into `buf`. `limits` NULL means the guard's defaults. On
 * hostile or malformed bytes: CPS_ERR_INVALID and a reason naming the byte
 * offset and the field path (never the content), worded as the guard words
 * it; out of memory: CPS_ERR_FATAL. On failure the arena keeps what was
 * allocated until its next reset. Thread-safe for distinct arenas. */
int cps_record_decode(const struct cps_record_schema *rs, const void *buf, size_t len,
                      const struct cps_guard_limits *limits, unsigned flags,
                      struct cps_arena *arena, struct cps_tval *out, char *errstr,
                      size_t errstr_size);

/* The same for one datum of type `t`, a part of a compiled schema (a
 * field's type): values stored field by field (reconcile/typed_state.h). */
int cps_record_decode_at(const struct cps_rtype *t, const void *buf, size_t len,
                         const struct cps_guard_limits *limits, unsigned flags,
                         struct cps_arena *arena, struct cps_tval *out, char *errstr,
                         size_t errstr_size);

/* Appends the Avro binary encoding of `v` (a value of `rs`) to `out`:
 * arrays and maps in one block of positive count, decimals in their
 * minimal two's-complement form (fixed: sign-extended to the size), so that
 * decoding then encoding Avro C's output gives the same bytes. A value that
 * does not match the schema (kind, branch, enum index, int range, fixed
 * size) is CPS_ERR_INVALID naming the field path; passing the buffer's
 * limit is CPS_ERR_INVALID too. On failure `out` may hold a partial
 * encoding past its old length. */
int cps_record_encode(const struct cps_record_schema *rs, const struct cps_tval *v,
                      struct cps_buf *out, char *errstr, size_t errstr_size);
/* The same for a value of type `t`, a part of a compiled schema (a field's
 * type, a union's branch). */
int cps_record_encode_at(const struct cps_rtype *t, const struct cps_tval *v, struct cps_buf *out,
                         char *errstr, size_t errstr_size);

/* Appends the Avro binary encoding of `json`, a value of `rs` in the Avro
 * specification's JSON encoding (unions as {"branch name": value} or null,
 * bytes and fixed as strings of code points 0-255, every record field
 * present): the bytes cps_value_from_json and Avro C's encoder give, without
 * an Avro C value. A value not matching the schema is CPS_ERR_INVALID naming
 * the field path (never the content); `out` may then hold a partial
 * encoding past its old length. */
int cps_record_encode_json(const struct cps_record_schema *rs, const json_t *json,
                           struct cps_buf *out, char *errstr, size_t errstr_size);
/* The same for a value of type `t`, a part of a compiled schema (a field's
 * type): for an encoder that writes the rest itself. */
int cps_record_encode_json_at(const struct cps_rtype *t, const json_t *json, struct cps_buf *out,
                              char *errstr, size_t errstr_size);

/* Avro's long, a zig-zag varint, at p (room for 10 bytes); returns the
 * number of bytes written. */
static inline size_t cps_avro_long_put(uint8_t *p, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;

	while (z >= 0x80) {
		p[n++] = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	p[n++] = (uint8_t)z;
	return n;
}

/* A decimal's unscaled value as Avro writes it in bytes, the minimal
 * big-endian two's complement: fills be[8] and returns the index of its
 * first byte. */
size_t cps_decimal_be(int64_t v, uint8_t be[8]);
/* The same bytes in Avro's JSON encoding (one code point per byte); a new
 * reference, or NULL when out of memory. */
json_t *cps_decimal_json(int64_t v);

/* The Avro specification's JSON encoding of `v`, exactly as
 * cps_value_to_json (avro_json.h) gives it for the same value: unions as
 * {"type name": value}, bytes and fixed as strings of code points 0-255 (a
 * decimal as its minimal two's complement, as the encoder writes it), enums
 * as their symbol, logical types in their underlying encoding. A new
 * reference, or NULL with CPS_ERR_INVALID's reason in errstr (invalid UTF-8,
 * a non-finite number, a value not matching the schema). */
json_t *cps_record_to_json(const struct cps_record_schema *rs, const struct cps_tval *v,
                           char *errstr, size_t errstr_size);

/* The same for a value of type `t`, a part of a compiled schema (a field's
 * type, a union's branch). */
json_t *cps_record_to_json_at(const struct cps_rtype *t, const struct cps_tval *v, char *errstr,
                              size_t errstr_size);

#endif
