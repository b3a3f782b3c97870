/*
 * Schema evolution (Avro specification "Schema Resolution") without Avro
 * C's resolved writer: a decoder that walks the writer schema over bytes the
 * guard has already checked and writes into a value of the reader schema
 * (fields by name, defaults from the reader JSON, promotions, enums by
 * symbol name), and the compatibility check cpsync enforces on schemas.
 */
#include "codec/evolution.h"

#include "codec/avro_json.h"
#include "codec/avro_json_int.h"
#include "base/buf.h"
#include "base/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- schema matching (shared by the decoder and the check) -------------- */

static int same_name(avro_schema_t w, avro_schema_t r)
{
	return !strcmp(avro_schema_name(w), avro_schema_name(r));
}

/* 1 when a value of writer type `w` is read as `r` without a promotion. */
static int matches_exactly(avro_schema_t w, avro_schema_t r)
{
	if (avro_typeof(w) != avro_typeof(r))
		return 0;
	switch (avro_typeof(w)) {
	case AVRO_RECORD:
	case AVRO_ENUM:
		return same_name(w, r);
	case AVRO_FIXED:
		return same_name(w, r) && avro_schema_fixed_size(w) == avro_schema_fixed_size(r);
	default:
		return 1;
	}
}

static int promotes(avro_schema_t w, avro_schema_t r)
{
	avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);

	switch (wt) {
	case AVRO_INT32:
		return rt == AVRO_INT64 || rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
	case AVRO_INT64:
		return rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
	case AVRO_FLOAT:
		return rt == AVRO_DOUBLE;
	case AVRO_STRING:
		return rt == AVRO_BYTES;
	case AVRO_BYTES:
		return rt == AVRO_STRING;
	default:
		return 0;
	}
}

/* The reader union branch for a (non-union) writer type: the first exact
 * match, else the first promotion; -1 when none. */
static int reader_branch(avro_schema_t w, avro_schema_t ru)
{
	size_t i, n = avro_schema_union_size(ru);

	for (i = 0; i < n; i++) {
		if (matches_exactly(w, cps_avro_deref(avro_schema_union_branch(ru, (int)i))))
			return (int)i;
	}
	for (i = 0; i < n; i++) {
		if (promotes(w, cps_avro_deref(avro_schema_union_branch(ru, (int)i))))
			return (int)i;
	}
	return -1;
}

/* reader_branch, or an error naming the path when the reader union has no
 * branch for writer type `w`. */
static int reader_branch_at(avro_schema_t w, avro_schema_t ru, const struct cps_json_path *path,
                            char *errstr, size_t errstr_size)
{
	char wname[512];
	int bi = reader_branch(w, ru);

	if (bi < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "writer type %s has no branch in the reader union at %s",
		                  cps_avro_type_name(w, wname, sizeof(wname)),
		                  cps_json_path_str(path));
	return bi;
}

/* CPS_OK when a value of writer type `w` is read as `r`, exactly or by a
 * promotion; else an error naming both types and the path. */
static int readable_at(avro_schema_t w, avro_schema_t r, const struct cps_json_path *path,
                       char *errstr, size_t errstr_size)
{
	char wname[512], rname[512];

	if (matches_exactly(w, r) || promotes(w, r))
		return CPS_OK;
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "writer type %s cannot be read as %s at %s",
	                  cps_avro_type_name(w, wname, sizeof(wname)),
	                  cps_avro_type_name(r, rname, sizeof(rname)), cps_json_path_str(path));
}

/* ---- the resolving decoder ------------------------------------------------ */

struct resolver {
	const uint8_t *p, *end;
	json_t *reader_json;
	struct cps_json_names *names; /* of reader_json, built on first need */
	struct cps_buf scratch;       /* NUL-terminated copies of strings */
	struct cps_json_path path;
	char *errstr;
	size_t errstr_size;
};

static int truncated(struct resolver *rs)
{
	return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size, "truncated datum at %s",
	                  cps_json_path_str(&rs->path));
}

static int read_long(struct resolver *rs, int64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;

	for (;;) {
		uint8_t b;

		if (rs->p >= rs->end || shift > 63)
			return truncated(rs);
		b = *rs->p++;
		v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return CPS_OK;
}

static int read_raw(struct resolver *rs, size_t n, const uint8_t **out)
{
	if ((size_t)(rs->end - rs->p) < n)
		return truncated(rs);
	*out = rs->p;
	rs->p += n;
	return CPS_OK;
}

static int read_len(struct resolver *rs, const uint8_t **data, size_t *len)
{
	int64_t l;
	int rc = read_long(rs, &l);

	if (rc != CPS_OK)
		return rc;
	if (l < 0)
		return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
		                  "negative length at %s", cps_json_path_str(&rs->path));
	*len = (size_t)l;
	return read_raw(rs, *len, data);
}

static json_t *reader_record_def(struct resolver *rs, avro_schema_t r)
{
	if (!rs->names)
		rs->names = cps_json_names_new(rs->reader_json);
	return cps_json_names_find(rs->names, r);
}

static int resolve(struct resolver *rs, avro_schema_t w, avro_schema_t r, avro_value_t *out);

static int resolve_record(struct resolver *rs, avro_schema_t w, avro_schema_t r, avro_value_t *out)
{
	size_t i, wn = avro_schema_record_size(w), rn = out ? avro_schema_record_size(r) : 0;
	char *seen = NULL;
	int rc = CPS_OK;

	if (rn && !(seen = calloc(rn, 1)))
		return cps_seterr(CPS_ERR_FATAL, rs->errstr, rs->errstr_size, "out of memory");
	for (i = 0; i < wn; i++) {
		const char *name = avro_schema_record_field_name(w, (int)i);
		avro_schema_t wf = avro_schema_record_field_get_by_index(w, (int)i);
		int ri = out ? avro_schema_record_field_get_index(r, name) : -1;
		size_t saved = cps_json_path_push_field(&rs->path, name);
		avro_value_t child;

		if (ri >= 0) {
			seen[ri] = 1;
			if (avro_value_get_by_index(out, (size_t)ri, &child, NULL)) {
				rc = cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
				                "cannot get field %s: %s",
				                cps_json_path_str(&rs->path), avro_strerror());
				goto out;
			}
			rc = resolve(rs, wf, avro_schema_record_field_get_by_index(r, ri), &child);
		} else {
			rc = resolve(rs, wf, NULL, NULL); /* writer-only: skip */
		}
		if (rc != CPS_OK)
			goto out;
		cps_json_path_pop(&rs->path, saved);
	}
	for (i = 0; i < rn; i++) {
		const char *name = avro_schema_record_field_name(r, (int)i);
		json_t *dflt;
		avro_value_t child;
		size_t saved;

		if (seen[i])
			continue;
		saved = cps_json_path_push_field(&rs->path, name);
		dflt = cps_json_field_default(reader_record_def(rs, r), name);
		if (!dflt) {
			rc = cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
			                "reader field %s is not in the writer and has no default",
			                cps_json_path_str(&rs->path));
			goto out;
		}
		if (avro_value_get_by_index(out, i, &child, NULL)) {
			rc = cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
			                "cannot get field %s: %s", cps_json_path_str(&rs->path),
			                avro_strerror());
			goto out;
		}
		rc = cps_json_fill(rs->names, dflt, 1, &child, &rs->path, rs->errstr,
		                   rs->errstr_size);
		if (rc != CPS_OK)
			goto out;
		cps_json_path_pop(&rs->path, saved);
	}
out:
	free(seen);
	return rc;
}

static int resolve_enum(struct resolver *rs, avro_schema_t w, avro_schema_t r, avro_value_t *out)
{
	char wname[512];
	const char *sym;
	int64_t idx;
	int ri, rc = read_long(rs, &idx);

	if (rc != CPS_OK)
		return rc;
	if (idx < 0 || idx >= avro_schema_enum_number_of_symbols(w))
		return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
		                  "enum index out of range at %s", cps_json_path_str(&rs->path));
	if (!out)
		return CPS_OK;
	sym = avro_schema_enum_get(w, (int)idx);
	ri = avro_schema_enum_get_by_name(r, sym);
	if (ri < 0) {
		json_t *def = reader_record_def(rs, r);
		const char *dflt = json_string_value(json_object_get(def, "default"));

		ri = dflt ? avro_schema_enum_get_by_name(r, dflt) : -1;
		if (ri < 0)
			return cps_seterr(
			    CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
			    "enum %s: writer symbol '%s' is not in the reader and the reader has no default (%s)",
			    cps_avro_type_name(w, wname, sizeof(wname)), sym,
			    cps_json_path_str(&rs->path));
	}
	avro_value_set_enum(out, ri);
	return CPS_OK;
}

static int resolve_blocks(struct resolver *rs, avro_schema_t w, avro_schema_t r, avro_value_t *out,
                          int is_map)
{
	avro_schema_t witem = is_map ? avro_schema_map_values(w) : avro_schema_array_items(w);
	avro_schema_t ritem =
	    out ? (is_map ? avro_schema_map_values(r) : avro_schema_array_items(r)) : NULL;
	size_t index = 0;
	int rc;

	if (out)
		avro_value_reset(out);
	for (;;) {
		int64_t count, bytes;

		rc = read_long(rs, &count);
		if (rc != CPS_OK)
			return rc;
		if (count == 0)
			return CPS_OK;
		if (count < 0) {
			if (count == INT64_MIN)
				return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
				                  "bad block count at %s",
				                  cps_json_path_str(&rs->path));
			count = -count;
			rc = read_long(rs, &bytes); /* block size in bytes: not needed */
			if (rc != CPS_OK)
				return rc;
			(void)bytes;
		}
		for (; count > 0; count--, index++) {
			size_t saved = cps_json_path_push_index(&rs->path, is_map, index);
			avro_value_t child, *cp = out ? &child : NULL;

			if (is_map) {
				const uint8_t *key;
				size_t klen;

				rc = read_len(rs, &key, &klen);
				if (rc != CPS_OK)
					return rc;
				if (out) {
					cps_buf_reset(&rs->scratch);
					if (cps_buf_append(&rs->scratch, key, klen) < 0)
						return cps_seterr(CPS_ERR_FATAL, rs->errstr,
						                  rs->errstr_size, "out of memory");
					if (avro_value_add(out, (const char *)rs->scratch.data,
					                   &child, NULL, NULL))
						goto avro_fail;
				}
			} else if (out && avro_value_append(out, &child, NULL)) {
				goto avro_fail;
			}
			rc = resolve(rs, witem, ritem, cp);
			if (rc != CPS_OK)
				return rc;
			cps_json_path_pop(&rs->path, saved);
		}
	}
avro_fail:
	return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size, "cannot add item at %s: %s",
	                  cps_json_path_str(&rs->path), avro_strerror());
}

/* Reads one string or bytes datum of the writer into a reader string or bytes. */
static int resolve_text(struct resolver *rs, avro_value_t *out)
{
	const uint8_t *data;
	size_t len;
	int rc = read_len(rs, &data, &len);

	if (rc != CPS_OK || !out)
		return rc;
	if (avro_value_get_type(out) == AVRO_BYTES) {
		rc = avro_value_set_bytes(out, (void *)data, len);
	} else {
		cps_buf_reset(&rs->scratch);
		if (cps_buf_append(&rs->scratch, data, len) < 0)
			return cps_seterr(CPS_ERR_FATAL, rs->errstr, rs->errstr_size,
			                  "out of memory");
		rc = avro_value_set_string_len(out, (const char *)rs->scratch.data, len + 1);
	}
	if (rc)
		return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size, "cannot set %s: %s",
		                  cps_json_path_str(&rs->path), avro_strerror());
	return CPS_OK;
}

static int set_number(avro_value_t *out, double d, int64_t l, int is_integer)
{
	switch (avro_value_get_type(out)) {
	case AVRO_INT32:
		return avro_value_set_int(out, (int32_t)l);
	case AVRO_INT64:
		return avro_value_set_long(out, l);
	case AVRO_FLOAT:
		return avro_value_set_float(out, is_integer ? (float)l : (float)d);
	case AVRO_DOUBLE:
		return avro_value_set_double(out, is_integer ? (double)l : d);
	default:
		return EINVAL;
	}
}

static int resolve(struct resolver *rs, avro_schema_t w, avro_schema_t r, avro_value_t *out)
{
	const uint8_t *raw = NULL;
	int64_t l;
	int rc;

	w = cps_avro_deref(w);
	r = out ? cps_avro_deref(r) : NULL;

	if (is_avro_union(w)) {
		rc = read_long(rs, &l);
		if (rc != CPS_OK)
			return rc;
		if (l < 0 || (size_t)l >= avro_schema_union_size(w))
			return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
			                  "union index out of range at %s",
			                  cps_json_path_str(&rs->path));
		return resolve(rs, avro_schema_union_branch(w, (int)l), r, out);
	}
	if (out && is_avro_union(r)) {
		avro_value_t branch;
		int bi = reader_branch_at(w, r, &rs->path, rs->errstr, rs->errstr_size);

		if (bi < 0)
			return bi;
		if (avro_value_set_branch(out, bi, &branch))
			return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
			                  "cannot set branch at %s: %s",
			                  cps_json_path_str(&rs->path), avro_strerror());
		return resolve(rs, w, avro_schema_union_branch(r, bi), &branch);
	}
	if (out && (rc = readable_at(w, r, &rs->path, rs->errstr, rs->errstr_size)) != CPS_OK)
		return rc;

	switch (avro_typeof(w)) {
	case AVRO_NULL:
		return out ? avro_value_set_null(out) : CPS_OK;
	case AVRO_BOOLEAN:
		rc = read_raw(rs, 1, &raw);
		if (rc == CPS_OK && out)
			avro_value_set_boolean(out, raw[0] != 0);
		return rc;
	case AVRO_INT32:
	case AVRO_INT64:
		rc = read_long(rs, &l);
		if (rc == CPS_OK && out)
			set_number(out, 0, l, 1);
		return rc;
	case AVRO_FLOAT:
	case AVRO_DOUBLE: {
		int is_float = avro_typeof(w) == AVRO_FLOAT;
		float f;
		double d;

		rc = read_raw(rs, is_float ? 4 : 8, &raw);
		if (rc != CPS_OK || !out)
			return rc;
		/* little-endian hosts only, like Avro C */
		if (is_float) {
			memcpy(&f, raw, 4);
			d = f;
		} else {
			memcpy(&d, raw, 8);
		}
		set_number(out, d, 0, 0);
		return CPS_OK;
	}
	case AVRO_STRING:
	case AVRO_BYTES:
		return resolve_text(rs, out);
	case AVRO_FIXED: {
		size_t n = (size_t)avro_schema_fixed_size(w);

		rc = read_raw(rs, n, &raw);
		if (rc == CPS_OK && out && avro_value_set_fixed(out, (void *)raw, n))
			return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
			                  "cannot set %s: %s", cps_json_path_str(&rs->path),
			                  avro_strerror());
		return rc;
	}
	case AVRO_ENUM:
		return resolve_enum(rs, w, r, out);
	case AVRO_RECORD:
		return resolve_record(rs, w, r, out);
	case AVRO_ARRAY:
		return resolve_blocks(rs, w, r, out, 0);
	case AVRO_MAP:
		return resolve_blocks(rs, w, r, out, 1);
	default:
		return cps_seterr(CPS_ERR_INVALID, rs->errstr, rs->errstr_size,
		                  "unsupported writer type at %s", cps_json_path_str(&rs->path));
	}
}

int cps_resolve_decode(const struct cps_schema *writer, const struct cps_schema *reader,
                       const void *buf, size_t len, const struct cps_guard_limits *limits,
                       avro_value_t *out, char *errstr, size_t errstr_size)
{
	struct cps_guard_limits dflt_limits;
	struct resolver rs = {
	    .p = buf,
	    .end = (const uint8_t *)buf + len,
	    .reader_json = reader->json,
	    .errstr = errstr,
	    .errstr_size = errstr_size,
	};
	int rc;

	if (!limits) {
		cps_guard_limits_default(&dflt_limits);
		limits = &dflt_limits;
	}
	rc = cps_guard_check(writer->avro, buf, len, limits, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	cps_buf_init(&rs.scratch, len + 1);
	cps_json_path_init(&rs.path);
	avro_value_reset(out);
	rc = resolve(&rs, writer->avro, reader->avro, out);
	if (rc == CPS_OK && rs.p != rs.end)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "%zu trailing bytes after the datum", (size_t)(rs.end - rs.p));
	cps_buf_release(&rs.scratch);
	cps_json_names_free(rs.names);
	return rc;
}

int cps_value_set_default(json_t *schema, json_t *dflt, avro_value_t *out, char *errstr,
                          size_t errstr_size)
{
	return cps_json_fill_from_schema(schema, dflt, 1, out, errstr, errstr_size);
}

/* ---- compatibility check -------------------------------------------------- */

#define MAX_CHECK_DEPTH 64

struct checker {
	struct cps_json_names *reader_names;
	/* record pairs being checked: a recursive schema meets them again */
	avro_schema_t stack_w[MAX_CHECK_DEPTH], stack_r[MAX_CHECK_DEPTH];
	unsigned depth;
	struct cps_json_path path;
	char *errstr;
	size_t errstr_size;
};

static int check(struct checker *ck, avro_schema_t w, avro_schema_t r);

static int check_enum(struct checker *ck, avro_schema_t w, avro_schema_t r)
{
	int i, j, wn = avro_schema_enum_number_of_symbols(w),
	          rn = avro_schema_enum_number_of_symbols(r);
	char name[512];

	for (i = 0; i < wn; i++) {
		const char *sym = avro_schema_enum_get(w, i);

		if (i < rn && !strcmp(sym, avro_schema_enum_get(r, i)))
			continue;
		j = avro_schema_enum_get_by_name(r, sym);
		cps_avro_type_name(w, name, sizeof(name));
		if (j < 0)
			return cps_seterr(CPS_ERR_INVALID, ck->errstr, ck->errstr_size,
			                  "enum %s: symbol '%s' removed in the reader (%s)", name,
			                  sym, cps_json_path_str(&ck->path));
		return cps_seterr(CPS_ERR_INVALID, ck->errstr, ck->errstr_size,
		                  "enum %s: symbol '%s' moved from index %d to %d (%s)", name, sym,
		                  i, j, cps_json_path_str(&ck->path));
	}
	return CPS_OK;
}

static int check_record(struct checker *ck, avro_schema_t w, avro_schema_t r)
{
	size_t i, rn = avro_schema_record_size(r);
	char name[512];
	int rc = CPS_OK;

	for (i = 0; i < ck->depth; i++) {
		if (ck->stack_w[i] == w && ck->stack_r[i] == r)
			return CPS_OK; /* already being checked further up */
	}
	if (ck->depth == MAX_CHECK_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, ck->errstr, ck->errstr_size,
		                  "schemas nested deeper than %d at %s", MAX_CHECK_DEPTH,
		                  cps_json_path_str(&ck->path));
	ck->stack_w[ck->depth] = w;
	ck->stack_r[ck->depth] = r;
	ck->depth++;
	for (i = 0; i < rn && rc == CPS_OK; i++) {
		const char *fname = avro_schema_record_field_name(r, (int)i);
		int wi = avro_schema_record_field_get_index(w, fname);
		size_t saved = cps_json_path_push_field(&ck->path, fname);

		if (wi >= 0)
			rc = check(ck, avro_schema_record_field_get_by_index(w, wi),
			           avro_schema_record_field_get_by_index(r, (int)i));
		else if (!cps_json_field_default(cps_json_names_find(ck->reader_names, r), fname))
			rc = cps_seterr(
			    CPS_ERR_INVALID, ck->errstr, ck->errstr_size,
			    "record %s: reader field %s is not in the writer and has no default",
			    cps_avro_type_name(r, name, sizeof(name)),
			    cps_json_path_str(&ck->path));
		if (rc == CPS_OK)
			cps_json_path_pop(&ck->path, saved);
	}
	ck->depth--;
	return rc;
}

/* The items of an array or the values of a map, under `mark` in the path. */
static int check_inner(struct checker *ck, const char *mark, avro_schema_t w, avro_schema_t r)
{
	size_t saved = cps_json_path_push_raw(&ck->path, mark);
	int rc = check(ck, w, r);

	if (rc == CPS_OK)
		cps_json_path_pop(&ck->path, saved);
	return rc;
}

static int check(struct checker *ck, avro_schema_t w, avro_schema_t r)
{
	size_t i, n;
	int rc;

	w = cps_avro_deref(w);
	r = cps_avro_deref(r);
	if (is_avro_union(w)) {
		n = avro_schema_union_size(w);
		for (i = 0; i < n; i++) {
			rc = check(ck, avro_schema_union_branch(w, (int)i), r);
			if (rc != CPS_OK)
				return rc;
		}
		return CPS_OK;
	}
	if (is_avro_union(r)) {
		int bi = reader_branch_at(w, r, &ck->path, ck->errstr, ck->errstr_size);

		if (bi < 0)
			return bi;
		return check(ck, w, avro_schema_union_branch(r, bi));
	}
	rc = readable_at(w, r, &ck->path, ck->errstr, ck->errstr_size);
	if (rc != CPS_OK)
		return rc;
	switch (avro_typeof(w)) { /* a promotion is between scalars: the default */
	case AVRO_ENUM:
		return check_enum(ck, w, r);
	case AVRO_RECORD:
		return check_record(ck, w, r);
	case AVRO_ARRAY:
		return check_inner(ck, "[]", avro_schema_array_items(w),
		                   avro_schema_array_items(r));
	case AVRO_MAP:
		return check_inner(ck, "{}", avro_schema_map_values(w), avro_schema_map_values(r));
	default:
		return CPS_OK;
	}
}

int cps_schema_check_compatible(const struct cps_schema *writer, const struct cps_schema *reader,
                                char *errstr, size_t errstr_size)
{
	struct checker ck = {.errstr = errstr, .errstr_size = errstr_size};
	int rc;

	ck.reader_names = cps_json_names_new(reader->json);
	if (!ck.reader_names)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_json_path_init(&ck.path);
	rc = check(&ck, writer->avro, reader->avro);
	cps_json_names_free(ck.reader_names);
	return rc;
}
