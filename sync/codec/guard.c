/*
 * The guard: walks Avro binary bytes against an Avro C schema before Avro C
 * is allowed to read them (see guard.h). Bounded recursion (depth is capped
 * by the limits and by GUARD_DEPTH_CAP), no allocation. Reasons name the
 * byte offset and the field path, never the bytes' content.
 */
#include "codec/guard.h"

#include "base/common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Hard cap on nesting whatever the limits say: bounds the C stack. */
#define GUARD_DEPTH_CAP 512
/* Depth of the "can an item be zero bytes" look-ahead through records. */
#define ZERO_SIZE_DEPTH 32

enum seg_kind {
	SEG_FIELD, /* record field: schema = record, index = field */
	SEG_ITEM,  /* array item: index */
	SEG_VALUE, /* map value: index of the entry */
	SEG_KEY,   /* map key: index of the entry */
};

struct seg {
	avro_schema_t schema;
	uint64_t index;
	enum seg_kind kind;
};

struct walk {
	const uint8_t *base;
	const uint8_t *p;
	const uint8_t *end;
	uint64_t items;
	uint64_t max_items;
	unsigned depth;
	unsigned max_depth;
	unsigned nseg;
	char *errstr;
	size_t errstr_size;
	struct seg path[GUARD_DEPTH_CAP + 1];
};

void cps_guard_limits_default(struct cps_guard_limits *l)
{
	l->max_message_bytes = (size_t)4 << 20;
	l->max_items = 1000000;
	l->max_depth = 64;
}

static size_t remaining(const struct walk *w)
{
	return (size_t)(w->end - w->p);
}

/* Appends the field path of the current position, e.g. ".members[3].name". */
static void format_path(const struct walk *w, char *out, size_t size)
{
	size_t used = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < w->nseg && used + 1 < size; i++) {
		const struct seg *s = &w->path[i];
		int n;

		switch (s->kind) {
		case SEG_FIELD:
			n = snprintf(out + used, size - used, ".%s",
			             avro_schema_record_field_name(s->schema, (int)s->index));
			break;
		case SEG_ITEM:
			n = snprintf(out + used, size - used, "[%" PRIu64 "]", s->index);
			break;
		case SEG_VALUE:
			n = snprintf(out + used, size - used, "{%" PRIu64 "}", s->index);
			break;
		default:
			n = snprintf(out + used, size - used, "{%" PRIu64 "}<key>", s->index);
			break;
		}
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (used >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

/* Rejects: "<what> at offset N (<path>)"; `at` is the offending offset. */
__attribute__((format(printf, 3, 4))) static int reject(struct walk *w, const uint8_t *at,
                                                        const char *fmt, ...)
{
	char what[160];
	char path[256];
	va_list ap;

	if (!w->errstr || w->errstr_size == 0)
		return CPS_ERR_INVALID;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	format_path(w, path, sizeof(path));
	if (path[0])
		snprintf(w->errstr, w->errstr_size, "%s at offset %zu (%s)", what,
		         (size_t)(at - w->base), path);
	else
		snprintf(w->errstr, w->errstr_size, "%s at offset %zu", what,
		         (size_t)(at - w->base));
	return CPS_ERR_INVALID;
}

/* The multi-byte case of read_varint (kept out of line so the one-byte
 * case inlines). */
static __attribute__((noinline)) int read_varint_slow(struct walk *w, unsigned max_bytes,
                                                      int64_t *out)
{
	const uint8_t *start = w->p;
	const uint8_t *p = w->p;
	uint64_t v = 0;
	unsigned i, shift = 0;

	for (i = 0;; i++, shift += 7) {
		uint8_t b;

		if (p == w->end)
			return reject(w, start, "truncated varint");
		b = *p++;
		if (i == max_bytes - 1 && (b & 0x80))
			return reject(w, start, "varint longer than %u bytes", max_bytes);
		if (i == max_bytes - 1 && (b >> (max_bytes == 10 ? 1 : 4)) != 0) {
			if (max_bytes == 10)
				return reject(w, start, "varint overflows 64 bits");
			return reject(w, start, "int out of range");
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0)
				return reject(w, start, "non-minimal varint");
			break;
		}
	}
	w->p = p;
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return CPS_OK;
}

/* Zig-zag varint of at most `max_bytes` bytes (10 for long, 5 for int),
 * minimal encoding only (Avro C re-encodes minimally), no overflow. */
static inline int read_varint(struct walk *w, unsigned max_bytes, int64_t *out)
{
	if (__builtin_expect(w->p < w->end && *w->p < 0x80, 1)) {
		uint64_t v = *w->p++;

		*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
		return CPS_OK;
	}
	return read_varint_slow(w, max_bytes, out);
}

static avro_schema_t deref(avro_schema_t s)
{
	while (avro_typeof(s) == AVRO_LINK)
		s = avro_schema_link_target(s);
	return s;
}

/* Whether a datum of `s` can be encoded in zero bytes (then a block count
 * larger than the remaining bytes is not absurd by itself). */
static int can_be_empty(avro_schema_t s, unsigned depth)
{
	size_t i, n;

	if (depth > ZERO_SIZE_DEPTH)
		return 0;
	s = deref(s);
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return 1;
	case AVRO_FIXED:
		return avro_schema_fixed_size(s) == 0;
	case AVRO_RECORD:
		n = avro_schema_record_size(s);
		for (i = 0; i < n; i++)
			if (!can_be_empty(avro_schema_record_field_get_by_index(s, (int)i),
			                  depth + 1))
				return 0;
		return 1;
	default:
		return 0;
	}
}

static int walk_datum(struct walk *w, avro_schema_t s);

static int enter(struct walk *w, const uint8_t *at)
{
	if (w->depth >= w->max_depth)
		return reject(w, at, "nesting deeper than %u", w->max_depth);
	w->depth++;
	return CPS_OK;
}

static int walk_string(struct walk *w, const char *what)
{
	const uint8_t *at = w->p;
	int64_t len;
	int rc;

	if ((rc = read_varint(w, 10, &len)) != CPS_OK)
		return rc;
	if (len < 0)
		return reject(w, at, "negative %s length %" PRId64, what, len);
	if ((uint64_t)len > remaining(w))
		return reject(w, at, "%s length %" PRId64 " exceeds remaining %zu bytes", what, len,
		              remaining(w));
	w->p += len;
	return CPS_OK;
}

/* Array items or map entries: blocks of `count` items, ended by count 0. */
static int walk_blocks(struct walk *w, avro_schema_t items, int is_map)
{
	uint64_t index = 0;
	int zero_ok = -1; /* computed when first needed */
	int skip_items = !is_map && avro_typeof(deref(items)) == AVRO_NULL;
	struct seg *seg;
	int rc;

	for (;;) {
		const uint8_t *at = w->p, *start;
		int64_t count, size = -1;
		uint64_t n, i;

		if ((rc = read_varint(w, 10, &count)) != CPS_OK)
			return rc;
		if (count == 0)
			return CPS_OK;
		if (count < 0) {
			if (count == INT64_MIN)
				return reject(w, at, "block count %" PRId64 " cannot be negated",
				              count);
			count = -count;
			if ((rc = read_varint(w, 10, &size)) != CPS_OK)
				return rc;
			if (size < 0)
				return reject(w, at, "negative block byte size %" PRId64, size);
			if ((uint64_t)size > remaining(w))
				return reject(w, at,
				              "block byte size %" PRId64
				              " exceeds remaining %zu bytes",
				              size, remaining(w));
		}
		n = (uint64_t)count;
		if (n > w->max_items - w->items)
			return reject(w, at,
			              "too many items: block of %" PRIu64 " after %" PRIu64
			              " exceeds max %" PRIu64,
			              n, w->items, w->max_items);
		if (n > remaining(w)) {
			if (zero_ok < 0)
				zero_ok = !is_map && can_be_empty(items, 0);
			if (!zero_ok)
				return reject(w, at,
				              "block count %" PRIu64 " exceeds remaining %zu bytes",
				              n, remaining(w));
		}
		w->items += n;
		start = w->p;
		if (!skip_items) {
			seg = &w->path[w->nseg++];
			for (i = 0; i < n; i++, index++) {
				seg->index = index;
				if (is_map) {
					seg->kind = SEG_KEY;
					if ((rc = walk_string(w, "map key")) != CPS_OK)
						return rc;
					seg->kind = SEG_VALUE;
				} else {
					seg->kind = SEG_ITEM;
				}
				if ((rc = walk_datum(w, items)) != CPS_OK)
					return rc;
			}
			w->nseg--;
		} else {
			index += n;
		}
		if (size >= 0 && (uint64_t)size != (uint64_t)(w->p - start))
			return reject(w, at,
			              "block byte size %" PRId64
			              " does not match its %zu bytes of items",
			              size, (size_t)(w->p - start));
	}
}

/* A value with no children: null, boolean, numbers, strings, fixed, enum. */
static int walk_scalar(struct walk *w, avro_schema_t s, const uint8_t *at)
{
	int64_t v;
	int rc;

	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return CPS_OK;
	case AVRO_BOOLEAN:
		if (w->p == w->end)
			return reject(w, at, "truncated boolean");
		if (*w->p > 1)
			return reject(w, at, "boolean byte not 0 or 1");
		w->p++;
		return CPS_OK;
	case AVRO_INT32:
		return read_varint(w, 5, &v);
	case AVRO_INT64:
		return read_varint(w, 10, &v);
	case AVRO_FLOAT:
	case AVRO_DOUBLE: {
		size_t need = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;

		if (remaining(w) < need)
			return reject(w, at, "truncated %s: %zu bytes needed, %zu remain",
			              need == 4 ? "float" : "double", need, remaining(w));
		w->p += need;
		return CPS_OK;
	}
	case AVRO_STRING:
		return walk_string(w, "string");
	case AVRO_BYTES:
		return walk_string(w, "bytes");
	case AVRO_FIXED: {
		int64_t need = avro_schema_fixed_size(s);

		if (need < 0 || (uint64_t)need > remaining(w))
			return reject(w, at,
			              "truncated fixed: %" PRId64 " bytes needed, %zu remain", need,
			              remaining(w));
		w->p += need;
		return CPS_OK;
	}
	case AVRO_ENUM: {
		int nsym = avro_schema_enum_number_of_symbols(s);

		if ((rc = read_varint(w, 10, &v)) != CPS_OK)
			return rc;
		if (v < 0 || v >= nsym)
			return reject(w, at, "enum index %" PRId64 " out of range 0..%d", v,
			              nsym - 1);
		return CPS_OK;
	}
	default:
		return reject(w, at, "unsupported schema type %d", (int)avro_typeof(s));
	}
}

static int walk_datum(struct walk *w, avro_schema_t s)
{
	const uint8_t *at;
	unsigned entered = 0;
	int64_t v;
	int rc = CPS_OK;

again:
	at = w->p;
	switch (avro_typeof(s)) {
	case AVRO_UNION: {
		size_t nbranch = avro_schema_union_size(s);

		if ((rc = enter(w, at)) != CPS_OK)
			break;
		entered++;
		if ((rc = read_varint(w, 10, &v)) != CPS_OK)
			break;
		if (v < 0 || (uint64_t)v >= nbranch) {
			if (nbranch == 0)
				rc = reject(w, at, "union index %" PRId64 " of an empty union", v);
			else
				rc = reject(w, at, "union index %" PRId64 " out of range 0..%zu", v,
				            nbranch - 1);
			break;
		}
		s = avro_schema_union_branch(s, (int)v);
		goto again;
	}
	case AVRO_RECORD: {
		size_t i, n = avro_schema_record_size(s);
		struct seg *seg;

		if ((rc = enter(w, at)) != CPS_OK)
			break;
		entered++;
		seg = &w->path[w->nseg++];
		seg->kind = SEG_FIELD;
		seg->schema = s;
		for (i = 0; i < n; i++) {
			seg->index = i;
			rc = walk_datum(w, avro_schema_record_field_get_by_index(s, (int)i));
			if (rc != CPS_OK)
				break;
		}
		if (rc == CPS_OK)
			w->nseg--;
		break;
	}
	case AVRO_ARRAY:
	case AVRO_MAP:
		if ((rc = enter(w, at)) != CPS_OK)
			break;
		entered++;
		if (avro_typeof(s) == AVRO_ARRAY)
			rc = walk_blocks(w, avro_schema_array_items(s), 0);
		else
			rc = walk_blocks(w, avro_schema_map_values(s), 1);
		break;
	case AVRO_LINK:
		s = avro_schema_link_target(s);
		goto again;
	default:
		rc = walk_scalar(w, s, at);
		break;
	}
	w->depth -= entered;
	return rc;
}

static int guard_walk(avro_schema_t schema, const void *buf, size_t len,
                      const struct cps_guard_limits *limits, size_t *consumed, char *errstr,
                      size_t errstr_size)
{
	struct cps_guard_limits defaults;
	struct walk w;
	int rc;

	if (!limits) {
		cps_guard_limits_default(&defaults);
		limits = &defaults;
	}
	if (!schema || (!buf && len > 0))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "guard called without a schema or buffer");
	w.base = buf ? buf : (const void *)"";
	w.p = w.base;
	w.end = w.base + len;
	w.items = 0;
	w.max_items = limits->max_items;
	w.depth = 0;
	w.max_depth = limits->max_depth < GUARD_DEPTH_CAP ? limits->max_depth : GUARD_DEPTH_CAP;
	w.nseg = 0;
	w.errstr = errstr;
	w.errstr_size = errstr_size;
	if (!consumed && len > limits->max_message_bytes)
		return reject(&w, w.base, "message of %zu bytes exceeds max %zu", len,
		              limits->max_message_bytes);
	w.nseg = 0;
	if ((rc = walk_datum(&w, schema)) != CPS_OK)
		return rc;
	w.nseg = 0;
	if ((size_t)(w.p - w.base) > limits->max_message_bytes)
		return reject(&w, w.base, "datum of %zu bytes exceeds max %zu",
		              (size_t)(w.p - w.base), limits->max_message_bytes);
	if (consumed) {
		*consumed = (size_t)(w.p - w.base);
		return CPS_OK;
	}
	if (w.p != w.end)
		return reject(&w, w.p, "trailing bytes: %zu after the datum", remaining(&w));
	return CPS_OK;
}

int cps_guard_check(avro_schema_t schema, const void *buf, size_t len,
                    const struct cps_guard_limits *limits, char *errstr, size_t errstr_size)
{
	return guard_walk(schema, buf, len, limits, NULL, errstr, errstr_size);
}

int cps_guard_check_prefix(avro_schema_t schema, const void *buf, size_t len,
                           const struct cps_guard_limits *limits, size_t *consumed, char *errstr,
                           size_t errstr_size)
{
	size_t ignored;

	return guard_walk(schema, buf, len, limits, consumed ? consumed : &ignored, errstr,
	                  errstr_size);
}
