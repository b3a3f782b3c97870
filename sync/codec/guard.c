/*
 * The guard: walks Avro binary bytes against an Avro C schema before Avro C
 * is allowed to read them (see guard.h). Bounded recursion (depth is capped
 * by the limits and by GUARD_DEPTH_CAP), no allocation. Reasons name the
 * byte offset and the field path, never the bytes' content.
 */
#include "codec/guard.h"

#include "codec/avro_reader_int.h"
#include "codec/record_int.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Hard cap on nesting whatever the limits say: bounds the C stack. */
#define GUARD_DEPTH_CAP 512
/* Depth of the "can an item be zero bytes" look-ahead through records. */
#define ZERO_SIZE_DEPTH 32

struct seg {
	avro_schema_t schema;
	uint64_t index;
	enum cps_rseg_kind kind; /* the typed path's kinds: one printer */
};

struct walk {
	struct cps_avro_reader r; /* first: format_path gets it */
	unsigned nseg;
	struct seg path[GUARD_DEPTH_CAP + 1];
};

/* Appends the field path of the current position, e.g. ".members[3].name". */
static void format_path(const struct cps_avro_reader *r, char *out, size_t size)
{
	const struct walk *w = (const struct walk *)r;
	size_t used = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < w->nseg && used + 1 < size; i++) {
		const struct seg *s = &w->path[i];
		const char *name = s->kind == CPS_RSEG_FIELD
		                       ? avro_schema_record_field_name(s->schema, (int)s->index)
		                       : NULL;

		if (cps_rpath_append(out, size, &used, s->kind, name, s->index) < 0)
			break;
	}
	cps_rpath_truncated(out, size, used);
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

static int walk_string(struct walk *w, const char *what)
{
	int64_t len;
	int rc = cps_avro_read_len(&w->r, what, &len);

	if (rc == CPS_OK)
		w->r.p += len;
	return rc;
}

static int items_can_be_empty(const void *items)
{
	return can_be_empty((avro_schema_t)(uintptr_t)items, 0);
}

/* Array items or map entries: blocks of `count` items, ended by count 0. */
static int walk_blocks(struct walk *w, avro_schema_t items, int is_map)
{
	struct cps_avro_blocks b = {
	    .zero_ok = -1, .can_be_empty = is_map ? NULL : items_can_be_empty, .items = items};
	uint64_t index = 0, n, i;
	int skip_items = !is_map && avro_typeof(deref(items)) == AVRO_NULL;
	struct seg *seg;
	int rc;

	for (;;) {
		if ((rc = cps_avro_block_next(&w->r, &b, &n)) != CPS_OK || n == 0)
			return rc;
		if (!skip_items) {
			seg = &w->path[w->nseg++];
			for (i = 0; i < n; i++, index++) {
				seg->index = index;
				if (is_map) {
					seg->kind = CPS_RSEG_KEY;
					if ((rc = walk_string(w, "map key")) != CPS_OK)
						return rc;
					seg->kind = CPS_RSEG_VALUE;
				} else {
					seg->kind = CPS_RSEG_ITEM;
				}
				if ((rc = walk_datum(w, items)) != CPS_OK)
					return rc;
			}
			w->nseg--;
		} else {
			index += n;
		}
		if ((rc = cps_avro_block_end(&w->r, &b)) != CPS_OK)
			return rc;
	}
}

/* A value with no children: null, boolean, numbers, strings, fixed, enum. */
static int walk_scalar(struct walk *w, avro_schema_t s, const uint8_t *at)
{
	struct cps_avro_reader *r = &w->r;
	const uint8_t *bytes;
	int64_t v;

	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return CPS_OK;
	case AVRO_BOOLEAN:
		return cps_avro_read_boolean(r, at, &v);
	case AVRO_INT32:
		return cps_avro_read_varint(r, 5, &v);
	case AVRO_INT64:
		return cps_avro_read_varint(r, 10, &v);
	case AVRO_FLOAT:
		return cps_avro_take(r, at, "float", 4, &bytes);
	case AVRO_DOUBLE:
		return cps_avro_take(r, at, "double", 8, &bytes);
	case AVRO_STRING:
		return walk_string(w, "string");
	case AVRO_BYTES:
		return walk_string(w, "bytes");
	case AVRO_FIXED:
		return cps_avro_take(r, at, "fixed", avro_schema_fixed_size(s), &bytes);
	case AVRO_ENUM:
		return cps_avro_read_index(r, at, "enum",
		                           (size_t)avro_schema_enum_number_of_symbols(s), &v);
	default:
		return cps_avro_reject(r, at, "unsupported schema type %d", (int)avro_typeof(s));
	}
}

static int walk_datum(struct walk *w, avro_schema_t s)
{
	const uint8_t *at;
	unsigned entered = 0;
	int64_t v;
	int rc = CPS_OK;

again:
	at = w->r.p;
	switch (avro_typeof(s)) {
	case AVRO_UNION:
		if ((rc = cps_avro_enter(&w->r, at)) != CPS_OK)
			break;
		entered++;
		rc = cps_avro_read_index(&w->r, at, "union", avro_schema_union_size(s), &v);
		if (rc != CPS_OK)
			break;
		s = avro_schema_union_branch(s, (int)v);
		goto again;
	case AVRO_RECORD: {
		size_t i, n = avro_schema_record_size(s);
		struct seg *seg;

		if ((rc = cps_avro_enter(&w->r, at)) != CPS_OK)
			break;
		entered++;
		seg = &w->path[w->nseg++];
		seg->kind = CPS_RSEG_FIELD;
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
		if ((rc = cps_avro_enter(&w->r, at)) != CPS_OK)
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
	w->r.depth -= entered;
	return rc;
}

static int guard_walk(avro_schema_t schema, const void *buf, size_t len,
                      const struct cps_guard_limits *limits, size_t *consumed, char *errstr,
                      size_t errstr_size)
{
	struct walk w;
	int rc;

	if (!schema || (!buf && len > 0))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "guard called without a schema or buffer");
	w.nseg = 0;
	rc = cps_avro_reader_start(&w.r, buf, len, limits, GUARD_DEPTH_CAP, !consumed, errstr,
	                           errstr_size, format_path);
	if (rc != CPS_OK || (rc = walk_datum(&w, schema)) != CPS_OK)
		return rc;
	w.nseg = 0;
	if ((size_t)(w.r.p - w.r.base) > w.r.max_bytes)
		return cps_avro_reject(&w.r, w.r.base, "datum of %zu bytes exceeds max %zu",
		                       (size_t)(w.r.p - w.r.base), w.r.max_bytes);
	if (consumed) {
		*consumed = (size_t)(w.r.p - w.r.base);
		return CPS_OK;
	}
	if (w.r.p != w.r.end)
		return cps_avro_reject(&w.r, w.r.p, "trailing bytes: %zu after the datum",
		                       cps_avro_remaining(&w.r));
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
