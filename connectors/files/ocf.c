/*
 * Avro Object Container Files on hostile bytes: our own header and block
 * parsing with hard caps (Avro C's file reader allocates what the file
 * declares), raw deflate through zlib with an output cap, a structural record
 * splitter, and the header/block writers used by the files sink.
 * Specification: Avro 1.11 "Object Container Files".
 */
#include "connectors/files/ocf.h"
#include "base/common.h"
#include "codec/record.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const uint8_t magic[4] = {'O', 'b', 'j', 1};

#define MAX_DATUM_ITEMS 1000000u

struct cps_ocf_reader {
	const uint8_t *buf;
	size_t len, pos; /* pos: the next block in buf */
	struct cps_ocf_limits limits;
	enum cps_ocf_codec codec;
	uint8_t sync[CPS_OCF_SYNC_SIZE];
	char *schema_json;
	avro_schema_t schema;
	/* the current block */
	struct cps_buf inflated;
	const uint8_t *block;
	size_t block_len, block_pos;
	int64_t block_count, block_done; /* records in the block / returned */
	int64_t next_index;              /* index of the block's next record */
	int64_t n_blocks;
	uint64_t min_record; /* fewest bytes a record of the schema takes */
	bool broken;
	char broken_reason[256];
};

void cps_ocf_limits_default(struct cps_ocf_limits *l)
{
	l->max_header_bytes = (size_t)1 << 20;
	l->max_block_bytes = (size_t)16 << 20;
	l->max_inflated_bytes = (size_t)64 << 20;
	l->max_block_count = 1000000;
	l->max_depth = 64;
}

int cps_ocf_codec_from_name(const char *name, enum cps_ocf_codec *out)
{
	if (!strcmp(name, "null"))
		*out = CPS_OCF_NULL;
	else if (!strcmp(name, "deflate"))
		*out = CPS_OCF_DEFLATE;
	else
		return CPS_ERR_INVALID;
	return CPS_OK;
}

const char *cps_ocf_codec_name(enum cps_ocf_codec c)
{
	return c == CPS_OCF_DEFLATE ? "deflate" : "null";
}

/* A zig-zag long of at most 10 bytes; -1 when truncated or overlong. */
static int read_long(const uint8_t *p, size_t len, size_t *pos, int64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;

	for (;;) {
		uint8_t b;

		if (*pos >= len || shift > 63)
			return -1;
		b = p[(*pos)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return 0;
}

/* A length-prefixed byte string within [pos, len). */
static int read_bytes(const uint8_t *p, size_t len, size_t *pos, const uint8_t **data, size_t *n)
{
	int64_t l;

	if (read_long(p, len, pos, &l) < 0 || l < 0 || (uint64_t)l > len - *pos)
		return -1;
	*data = p + *pos;
	*n = (size_t)l;
	*pos += (size_t)l;
	return 0;
}

/* The fewest bytes a datum of `s` can take: a lower bound (0 past the depth
 * cap or through a recursive link), so that a count of N such datums in
 * fewer than N times as many bytes is a lie. */
static uint64_t min_size(avro_schema_t s, unsigned depth)
{
	uint64_t n = 0, branch;

	if (depth > 64)
		return 0;
	switch (avro_typeof(s)) {
	case AVRO_NULL:
	case AVRO_LINK:
		return 0;
	case AVRO_FLOAT:
		return 4;
	case AVRO_DOUBLE:
		return 8;
	case AVRO_FIXED:
		return avro_schema_fixed_size(s) > 0 ? (uint64_t)avro_schema_fixed_size(s) : 0;
	case AVRO_RECORD:
		for (size_t i = 0; i < avro_schema_record_size(s); i++)
			n += min_size(avro_schema_record_field_get_by_index(s, (int)i), depth + 1);
		return n;
	case AVRO_UNION:
		n = UINT64_MAX;
		for (size_t i = 0; i < avro_schema_union_size(s); i++) {
			branch = min_size(avro_schema_union_branch(s, (int)i), depth + 1);
			n = branch < n ? branch : n;
		}
		return n == UINT64_MAX ? 1 : 1 + n; /* the branch index, then the branch */
	default: /* boolean, int, long, enum, string, bytes, array, map: one byte at least */
		return 1;
	}
}

/* Whether `count` items of at least `item_min` bytes each fit in `avail`. */
static bool count_fits(uint64_t count, uint64_t item_min, size_t avail)
{
	return item_min == 0 || count <= avail / item_min;
}

static int datum_size(avro_schema_t s, const uint8_t *p, size_t len, size_t *pos, unsigned depth,
                      unsigned max_depth, uint64_t *items)
{
	const uint8_t *d;
	uint64_t item_min;
	size_t n;
	int64_t v;

	if (depth > max_depth)
		return -1;
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return 0;
	case AVRO_BOOLEAN:
		if (*pos >= len)
			return -1;
		(*pos)++;
		return 0;
	case AVRO_INT32:
	case AVRO_INT64:
	case AVRO_ENUM: /* the index range is the guard's business */
		return read_long(p, len, pos, &v);
	case AVRO_FLOAT:
	case AVRO_DOUBLE:
		n = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;
		if (len - *pos < n)
			return -1;
		*pos += n;
		return 0;
	case AVRO_STRING:
	case AVRO_BYTES:
		return read_bytes(p, len, pos, &d, &n);
	case AVRO_FIXED:
		v = avro_schema_fixed_size(s);
		if (v < 0 || (uint64_t)v > len - *pos)
			return -1;
		*pos += (size_t)v;
		return 0;
	case AVRO_RECORD:
		for (size_t i = 0; i < avro_schema_record_size(s); i++)
			if (datum_size(avro_schema_record_field_get_by_index(s, (int)i), p, len,
			               pos, depth + 1, max_depth, items) < 0)
				return -1;
		return 0;
	case AVRO_UNION:
		if (read_long(p, len, pos, &v) < 0 || v < 0 ||
		    (uint64_t)v >= avro_schema_union_size(s))
			return -1;
		return datum_size(avro_schema_union_branch(s, (int)v), p, len, pos, depth + 1,
		                  max_depth, items);
	case AVRO_ARRAY:
	case AVRO_MAP:
		item_min = avro_typeof(s) == AVRO_MAP
		               ? 1 + min_size(avro_schema_map_values(s), depth + 1)
		               : min_size(avro_schema_array_items(s), depth + 1);
		for (;;) {
			int64_t count, bsize;

			if (read_long(p, len, pos, &count) < 0)
				return -1;
			if (count == 0)
				return 0;
			if (count < 0) {
				if (count == INT64_MIN || read_long(p, len, pos, &bsize) < 0)
					return -1;
				count = -count;
			}
			if ((uint64_t)count > MAX_DATUM_ITEMS - *items ||
			    !count_fits((uint64_t)count, item_min, len - *pos))
				return -1;
			*items += (uint64_t)count;
			for (int64_t i = 0; i < count; i++) {
				if (avro_typeof(s) == AVRO_MAP &&
				    read_bytes(p, len, pos, &d, &n) < 0)
					return -1;
				if (datum_size(avro_typeof(s) == AVRO_MAP
				                   ? avro_schema_map_values(s)
				                   : avro_schema_array_items(s),
				               p, len, pos, depth + 1, max_depth, items) < 0)
					return -1;
			}
		}
	case AVRO_LINK:
		return datum_size(avro_schema_link_target(s), p, len, pos, depth + 1, max_depth,
		                  items);
	default:
		return -1;
	}
}

int cps_ocf_datum_size(avro_schema_t schema, const void *buf, size_t len, unsigned max_depth,
                       size_t *size)
{
	size_t pos = 0;
	uint64_t items = 0;

	if (datum_size(schema, buf, len, &pos, 0, max_depth ? max_depth : 64, &items) < 0)
		return CPS_ERR_INVALID;
	*size = pos;
	return CPS_OK;
}

/* Named types seen by check_names (Avro C leaks when a name repeats). */
struct names {
	char *v[256];
	size_t n;
};

/* A pre-walk of the schema JSON before Avro C parses it: no named type
 * defined twice, no nesting deeper than max_depth. -1 with a reason. */
static int check_names(json_t *j, const char *ns, struct names *seen, unsigned depth,
                       unsigned max_depth, char *why, size_t why_size)
{
	const char *type, *name, *own_ns;
	char full[512];
	size_t i;
	json_t *v;

	if (depth > max_depth) {
		snprintf(why, why_size, "nests deeper than %u", max_depth);
		return -1;
	}
	if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			if (check_names(v, ns, seen, depth + 1, max_depth, why, why_size) < 0)
				return -1;
		return 0;
	}
	if (!json_is_object(j))
		return 0;
	type = json_string_value(json_object_get(j, "type"));
	name = json_string_value(json_object_get(j, "name"));
	if (type && name &&
	    (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
	     !strcmp(type, "fixed"))) {
		own_ns = json_string_value(json_object_get(j, "namespace"));
		if (strchr(name, '.'))
			snprintf(full, sizeof(full), "%s", name);
		else
			snprintf(full, sizeof(full), "%s%s%s",
			         own_ns ? own_ns
			         : ns   ? ns
			                : "",
			         (own_ns && *own_ns) || (!own_ns && ns && *ns) ? "." : "", name);
		for (i = 0; i < seen->n; i++)
			if (!strcmp(seen->v[i], full)) {
				snprintf(why, why_size, "defines '%.200s' twice", full);
				return -1;
			}
		if (seen->n == sizeof(seen->v) / sizeof(seen->v[0])) {
			snprintf(why, why_size, "defines more than %zu named types", seen->n);
			return -1;
		}
		seen->v[seen->n] = strdup(full);
		if (!seen->v[seen->n]) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		seen->n++;
		ns = seen->v[seen->n - 1];
		if (strrchr(ns, '.')) {
			/* children inherit the namespace part of the full name */
			snprintf(full, sizeof(full), "%.*s", (int)(strrchr(ns, '.') - ns), ns);
			ns = full;
		} else {
			ns = "";
		}
	}
	if (check_names(json_object_get(j, "type"), ns, seen, depth + 1, max_depth, why, why_size) <
	        0 ||
	    check_names(json_object_get(j, "items"), ns, seen, depth + 1, max_depth, why,
	                why_size) < 0 ||
	    check_names(json_object_get(j, "values"), ns, seen, depth + 1, max_depth, why,
	                why_size) < 0)
		return -1;
	v = json_object_get(j, "fields");
	if (json_is_array(v)) {
		json_t *field;

		json_array_foreach (v, i, field)
			if (check_names(field, ns, seen, depth + 1, max_depth, why, why_size) < 0)
				return -1;
	}
	return 0;
}

static int check_schema_json(const char *text, size_t len, unsigned max_depth, char *why,
                             size_t why_size)
{
	struct names seen = {.n = 0};
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	int rc;

	if (!j) {
		snprintf(why, why_size, "not JSON: %.200s", jerr.text);
		return -1;
	}
	rc = check_names(j, "", &seen, 0, max_depth, why, why_size);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.v[i]);
	json_decref(j);
	return rc;
}

/* Parses the metadata map; fills schema/codec. */
static int parse_header(struct cps_ocf_reader *r, char *errstr, size_t errstr_size)
{
	const uint8_t *p = r->buf, *schema = NULL, *codec = NULL;
	size_t len = r->len, pos = sizeof(magic), schema_len = 0, codec_len = 0;
	size_t end;
	int64_t count;

	if (len < sizeof(magic) || memcmp(p, magic, sizeof(magic)) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "not an Avro object container file (no magic)");
	for (;;) {
		if (read_long(p, len, &pos, &count) < 0)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "truncated header metadata");
		if (count == 0)
			break;
		if (count < 0) {
			int64_t bsize;

			if (count == INT64_MIN || read_long(p, len, &pos, &bsize) < 0)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "bad header metadata block");
			count = -count;
		}
		if (count > 1024)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "header metadata block of %lld entries is too many",
			                  (long long)count);
		for (int64_t i = 0; i < count; i++) {
			const uint8_t *k, *v;
			size_t kn, vn;

			if (read_bytes(p, len, &pos, &k, &kn) < 0 ||
			    read_bytes(p, len, &pos, &v, &vn) < 0)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "truncated header metadata");
			if (kn == 11 && !memcmp(k, "avro.schema", 11)) {
				schema = v;
				schema_len = vn;
			} else if (kn == 10 && !memcmp(k, "avro.codec", 10)) {
				codec = v;
				codec_len = vn;
			}
		}
		if (pos > r->limits.max_header_bytes)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "header is larger than %zu bytes",
			                  r->limits.max_header_bytes);
	}
	end = pos + CPS_OCF_SYNC_SIZE;
	if (end > len)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "truncated header (no sync marker)");
	memcpy(r->sync, p + pos, CPS_OCF_SYNC_SIZE);
	r->pos = end;
	if (!schema)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "header has no 'avro.schema'");
	if (!codec || (codec_len == 4 && !memcmp(codec, "null", 4)))
		r->codec = CPS_OCF_NULL;
	else if (codec_len == 7 && !memcmp(codec, "deflate", 7))
		r->codec = CPS_OCF_DEFLATE;
	else
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unsupported codec '%.*s'",
		                  (int)(codec_len > 32 ? 32 : codec_len), (const char *)codec);
	r->schema_json = strndup((const char *)schema, schema_len);
	if (!r->schema_json)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (strlen(r->schema_json) != schema_len)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "header schema contains a NUL byte");
	{
		char why[300];

		if (check_schema_json(r->schema_json, schema_len, r->limits.max_depth, why,
		                      sizeof(why)) < 0)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "header schema %s",
			                  why);
	}
	if (avro_schema_from_json_length(r->schema_json, schema_len, &r->schema) != 0) {
		r->schema = NULL;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "header schema does not parse: %.200s", avro_strerror());
	}
	return CPS_OK;
}

int cps_ocf_reader_open(const void *buf, size_t len, const struct cps_ocf_limits *limits,
                        struct cps_ocf_reader **out, char *errstr, size_t errstr_size)
{
	struct cps_ocf_reader *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	r->buf = buf;
	r->len = len;
	if (limits)
		r->limits = *limits;
	else
		cps_ocf_limits_default(&r->limits);
	cps_buf_init(&r->inflated, r->limits.max_inflated_bytes + 1);
	rc = parse_header(r, errstr, errstr_size);
	if (rc != CPS_OK) {
		cps_ocf_reader_free(r);
		return rc;
	}
	r->min_record = min_size(r->schema, 0);
	*out = r;
	return CPS_OK;
}

void cps_ocf_reader_free(struct cps_ocf_reader *r)
{
	if (!r)
		return;
	if (r->schema)
		avro_schema_decref(r->schema);
	free(r->schema_json);
	cps_buf_release(&r->inflated);
	free(r);
}

const char *cps_ocf_reader_schema_json(struct cps_ocf_reader *r)
{
	return r->schema_json;
}

avro_schema_t cps_ocf_reader_schema(struct cps_ocf_reader *r)
{
	return r->schema;
}

enum cps_ocf_codec cps_ocf_reader_codec(struct cps_ocf_reader *r)
{
	return r->codec;
}

/* Raw deflate (RFC 1951, as the Avro specification says) into r->inflated,
 * never past max_inflated_bytes. */
static int inflate_block(struct cps_ocf_reader *r, const uint8_t *in, size_t n, char *errstr,
                         size_t errstr_size)
{
	z_stream zs;
	int zrc, rc = CPS_OK;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "inflateInit2 failed");
	cps_buf_reset(&r->inflated);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	do {
		size_t room;

		if (r->inflated.len >= r->limits.max_inflated_bytes) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "block %lld inflates past %zu bytes",
			                (long long)r->n_blocks, r->limits.max_inflated_bytes);
			goto out;
		}
		room = r->limits.max_inflated_bytes - r->inflated.len;
		if (room > 65536)
			room = 65536;
		if (cps_buf_reserve(&r->inflated, room) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out;
		}
		zs.next_out = r->inflated.data + r->inflated.len;
		zs.avail_out = (uInt)room;
		zrc = inflate(&zs, Z_NO_FLUSH);
		r->inflated.len += room - zs.avail_out;
		if (zrc == Z_STREAM_END)
			break;
		if (zrc != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "block %lld: bad deflate data%s%s", (long long)r->n_blocks,
			                zs.msg ? ": " : "", zs.msg ? zs.msg : "");
			goto out;
		}
	} while (1);
out:
	inflateEnd(&zs);
	return rc;
}

/* Moves to the next block: 1 when there is one, 0 at the end of the file. */
static int next_block(struct cps_ocf_reader *r, char *errstr, size_t errstr_size)
{
	size_t pos = r->pos;
	int64_t count, size;
	const uint8_t *data;
	int rc;

	if (pos == r->len)
		return 0;
	r->n_blocks++;
	if (read_long(r->buf, r->len, &pos, &count) < 0 ||
	    read_long(r->buf, r->len, &pos, &size) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "block %lld: truncated block header", (long long)r->n_blocks);
	if (count < 0 || count > r->limits.max_block_count)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "block %lld: record count %lld outside 0..%lld",
		                  (long long)r->n_blocks, (long long)count,
		                  (long long)r->limits.max_block_count);
	if (size < 0 || (uint64_t)size > r->limits.max_block_bytes)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "block %lld: size %lld outside 0..%zu", (long long)r->n_blocks,
		                  (long long)size, r->limits.max_block_bytes);
	if ((uint64_t)size > r->len - pos || r->len - pos - (size_t)size < CPS_OCF_SYNC_SIZE)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "block %lld: truncated",
		                  (long long)r->n_blocks);
	data = r->buf + pos;
	pos += (size_t)size;
	if (memcmp(r->buf + pos, r->sync, CPS_OCF_SYNC_SIZE) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "block %lld: sync marker does not match", (long long)r->n_blocks);
	pos += CPS_OCF_SYNC_SIZE;
	if (r->codec == CPS_OCF_DEFLATE) {
		rc = inflate_block(r, data, (size_t)size, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		r->block = r->inflated.data;
		r->block_len = r->inflated.len;
	} else {
		r->block = data;
		r->block_len = (size_t)size;
	}
	if (!count_fits((uint64_t)count, r->min_record, r->block_len))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "block %lld: %lld records cannot fit in its %zu bytes",
		                  (long long)r->n_blocks, (long long)count, r->block_len);
	r->pos = pos;
	r->block_pos = 0;
	r->block_count = count;
	r->block_done = 0;
	return 1;
}

int cps_ocf_reader_next(struct cps_ocf_reader *r, const void **rec, size_t *len, int64_t *index,
                        char *errstr, size_t errstr_size)
{
	size_t size;
	int rc;

	if (r->broken)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s", r->broken_reason);
	while (r->block_done >= r->block_count) {
		if (r->block && r->block_pos != r->block_len) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "block %lld: %zu bytes after its %lld records",
			                (long long)r->n_blocks, r->block_len - r->block_pos,
			                (long long)r->block_count);
			goto broken;
		}
		r->block = NULL;
		rc = next_block(r, errstr, errstr_size);
		if (rc == 0)
			return 0;
		if (rc < 0)
			goto broken;
	}
	*rec = r->block + r->block_pos;
	*index = r->next_index;
	if (cps_ocf_datum_size(r->schema, r->block + r->block_pos, r->block_len - r->block_pos,
	                       r->limits.max_depth, &size) != CPS_OK) {
		/* undelimitable: the rest of the block is one (bad) record */
		size = r->block_len - r->block_pos;
		r->next_index += r->block_count - r->block_done;
		r->block_done = r->block_count;
	} else {
		r->next_index++;
		r->block_done++;
	}
	*len = size;
	r->block_pos += size;
	return 1;
broken:
	r->broken = true;
	snprintf(r->broken_reason, sizeof(r->broken_reason), "%s", errstr ? errstr : "broken");
	return rc == CPS_ERR_FATAL ? rc : CPS_ERR_INVALID;
}

static int write_long(struct cps_buf *out, int64_t n)
{
	uint8_t tmp[10];

	return cps_buf_append(out, tmp, cps_avro_long_put(tmp, n));
}

static int write_bytes(struct cps_buf *out, const void *p, size_t n)
{
	if (write_long(out, (int64_t)n) < 0)
		return -1;
	return cps_buf_append(out, p, n);
}

int cps_ocf_write_header(struct cps_buf *out, const char *schema_json, enum cps_ocf_codec codec,
                         const uint8_t sync[CPS_OCF_SYNC_SIZE])
{
	const char *cn = cps_ocf_codec_name(codec);

	if (cps_buf_append(out, magic, sizeof(magic)) < 0 || write_long(out, 2) < 0 ||
	    write_bytes(out, "avro.schema", 11) < 0 ||
	    write_bytes(out, schema_json, strlen(schema_json)) < 0 ||
	    write_bytes(out, "avro.codec", 10) < 0 || write_bytes(out, cn, strlen(cn)) < 0 ||
	    write_long(out, 0) < 0 || cps_buf_append(out, sync, CPS_OCF_SYNC_SIZE) < 0)
		return CPS_ERR_FATAL;
	return CPS_OK;
}

int cps_ocf_write_block(struct cps_buf *out, enum cps_ocf_codec codec,
                        const uint8_t sync[CPS_OCF_SYNC_SIZE], int64_t count, const void *data,
                        size_t len, char *errstr, size_t errstr_size)
{
	z_stream zs;
	uLong bound;
	uint8_t *z;
	int rc = CPS_OK;

	if (codec == CPS_OCF_NULL) {
		if (write_long(out, count) < 0 || write_bytes(out, data, len) < 0 ||
		    cps_buf_append(out, sync, CPS_OCF_SYNC_SIZE) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "block buffer is full");
		return CPS_OK;
	}
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "deflateInit2 failed");
	bound = deflateBound(&zs, (uLong)len);
	z = malloc(bound);
	if (!z) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = z;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "deflate failed");
		goto out;
	}
	if (write_long(out, count) < 0 || write_bytes(out, z, zs.total_out) < 0 ||
	    cps_buf_append(out, sync, CPS_OCF_SYNC_SIZE) < 0)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "block buffer is full");
out:
	free(z);
	deflateEnd(&zs);
	return rc;
}
