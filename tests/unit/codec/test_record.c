/*
 * Unit tests of typed records (sync/codec/record*.c) and the arena
 * (sync/base/arena.c): every catalog schema compiles; varied records Avro C
 * wrote decode to the values Avro C holds and encode back to the same bytes;
 * every truncation and each rejection rule fails with the guard's reason;
 * decimals, dates and timestamps come out typed; the JSON of a typed record
 * is the text avro_json gives for the Avro C value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/common.h"
#include "codec/avro_json.h"
#include "codec/guard.h"
#include "codec/record.h"
#include "codec/schema.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct cps_record_schema *compile_text(const char *json_text)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_schema *s = NULL;
	struct cps_record_schema *rs = NULL;

	if (cps_schema_parse(json_text, strlen(json_text), &s, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "schema: %s\n", err);
		fail();
	}
	if (cps_record_schema_new(s, &rs, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "compile: %s\n", err);
		fail();
	}
	cps_schema_free(s);
	return rs;
}

static struct cps_catalog *load_catalog(void)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	char err[CPS_ERRSTR_SIZE];
	struct cps_catalog *c = NULL;

	assert_non_null(dir);
	if (cps_catalog_load_dir(dir, &c, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		fail();
	}
	return c;
}

#define CHECK_AVRO(expr)                                                                           \
	do {                                                                                       \
		if ((expr) != 0) {                                                                 \
			fprintf(stderr, "%s: %s\n", #expr, avro_strerror());                       \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

/* ---- the arena --------------------------------------------------------- */

static void test_arena(void **state)
{
	struct cps_arena a;
	uint8_t *p, *q, *first, *big;
	size_t i;

	cps_arena_init(&a, 256);
	assert_int_equal(cps_arena_used(&a), 0);
	first = cps_arena_alloc(&a, 1);
	assert_non_null(first);
	assert_int_equal((uintptr_t)first % CPS_ARENA_ALIGN, 0);
	for (i = 0; i < 100; i++) {
		p = cps_arena_alloc(&a, 1 + i % 37);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % CPS_ARENA_ALIGN, 0);
		memset(p, 0xab, 1 + i % 37); /* ASan: each one is really there */
	}
	big = cps_arena_alloc(&a, 10000); /* larger than a chunk: its own */
	assert_non_null(big);
	memset(big, 1, 10000);
	q = cps_arena_calloc(&a, 10, 8);
	assert_non_null(q);
	for (i = 0; i < 80; i++)
		assert_int_equal(q[i], 0);
	assert_true(cps_arena_used(&a) >= 10000 + 80);
	assert_null(cps_arena_calloc(&a, SIZE_MAX / 2, 4));
	assert_null(cps_arena_alloc(&a, SIZE_MAX - 8));
	assert_non_null(cps_arena_alloc(&a, 0));
	/* reset: the first chunk is reused from its start */
	cps_arena_reset(&a);
	assert_int_equal(cps_arena_used(&a), 0);
	p = cps_arena_alloc(&a, 1);
	assert_ptr_equal(p, first);
	cps_arena_release(&a);
	cps_arena_release(&a); /* released twice: harmless */
	assert_non_null(cps_arena_alloc(&a, 5));
	cps_arena_release(&a);
}

/* ---- the compiled schema ----------------------------------------------- */

static const struct cps_rtype *field_type(const struct cps_rtype *rec, const char *name)
{
	const struct cps_rfield *f = cps_rtype_field(rec, name);

	if (!f) {
		fprintf(stderr, "no field \"%s\" in %s\n", name, rec->name);
		fail();
	}
	return f->type;
}

static void test_compile_catalog(void **state)
{
	struct cps_catalog *c = load_catalog();
	char err[CPS_ERRSTR_SIZE];
	struct cps_record_schema *rs;
	const struct cps_rtype *t, *person;
	const struct cps_rfield *f;
	size_t i;

	assert_true(cps_catalog_count(c) >= 11);
	for (i = 0; i < cps_catalog_count(c); i++) {
		struct cps_schema *s = cps_catalog_at(c, i);

		if (cps_record_schema_new(s, &rs, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "%s: %s\n", s->name, err);
			fail();
		}
		assert_int_equal(rs->root->kind, CPS_RK_RECORD);
		assert_string_equal(rs->root->name, s->name);
		/* every field found by its name, and only its names */
		for (size_t k = 0; k < rs->root->n; k++)
			assert_ptr_equal(cps_rtype_field(rs->root, rs->root->fields[k].name),
			                 &rs->root->fields[k]);
		assert_null(cps_rtype_field(rs->root, ""));
		cps_record_schema_free(rs);
	}

	assert_int_equal(
	    cps_record_schema_new(cps_catalog_by_entity(c, "person"), &rs, err, sizeof(err)),
	    CPS_OK);
	f = cps_rtype_field(rs->root, "national_id");
	assert_non_null(f);
	assert_int_equal(f->index, 0);
	assert_int_equal(f->type->kind, CPS_RK_STRING);
	assert_false(f->nullable);
	t = field_type(rs->root, "birth_date");
	assert_int_equal(t->kind, CPS_RK_INT);
	assert_int_equal(t->logical, CPS_LOGICAL_DATE);
	t = field_type(rs->root, "gender");
	assert_int_equal(t->kind, CPS_RK_ENUM);
	assert_string_equal(t->name, "cpsync.Gender");
	assert_int_equal(t->n, 4);
	assert_string_equal(t->symbols[2], "FEMALE");
	f = cps_rtype_field(rs->root, "residence_address");
	assert_true(f->nullable);
	assert_int_equal(f->type->null_branch, 0);
	assert_int_equal(f->type->branches[1]->kind, CPS_RK_STRING);
	assert_null(cps_rtype_field(rs->root, "no_such_field"));
	cps_record_schema_free(rs);

	assert_int_equal(
	    cps_record_schema_new(cps_catalog_by_entity(c, "household"), &rs, err, sizeof(err)),
	    CPS_OK);
	t = field_type(rs->root, "per_capita_monthly_income");
	if (t->kind == CPS_RK_UNION)
		t = t->branches[t->null_branch == 0 ? 1 : 0];
	assert_int_equal(t->kind, CPS_RK_BYTES);
	assert_int_equal(t->logical, CPS_LOGICAL_DECIMAL);
	assert_int_equal(t->precision, 12);
	assert_int_equal(t->scale, 2);
	cps_record_schema_free(rs);

	assert_int_equal(cps_record_schema_new(cps_catalog_by_name(c, "cpsync.unified.PersonEvent"),
	                                       &rs, err, sizeof(err)),
	                 CPS_OK);
	t = field_type(rs->root, "event_time");
	assert_int_equal(t->kind, CPS_RK_LONG);
	assert_int_equal(t->logical, CPS_LOGICAL_TIMESTAMP_MILLIS);
	t = field_type(rs->root, "record");
	assert_int_equal(t->kind, CPS_RK_UNION);
	person = t->branches[1];
	assert_string_equal(person->name, "cpsync.Person");
	/* the inlined cpsync.Person keeps its logical types */
	assert_int_equal(field_type(person, "birth_date")->logical, CPS_LOGICAL_DATE);
	t = field_type(rs->root, "provenance");
	assert_int_equal(t->kind, CPS_RK_ARRAY);
	assert_int_equal(t->items->kind, CPS_RK_RECORD);
	cps_record_schema_free(rs);
	cps_catalog_free(c);
}

static void test_compile_shapes(void **state)
{
	/* recursion shares the type; decimals on fixed; invalid logical types ignored */
	struct cps_record_schema *rs = compile_text(
	    "{\"type\":\"record\",\"name\":\"N\",\"fields\":["
	    "{\"name\":\"next\",\"type\":[\"null\",\"N\"]},"
	    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":6,"
	    "\"logicalType\":\"decimal\",\"precision\":10,\"scale\":3}},"
	    "{\"name\":\"bad\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
	    "\"precision\":2,\"scale\":5}},"
	    "{\"name\":\"d\",\"type\":{\"type\":\"long\",\"logicalType\":\"date\"}},"
	    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"int\","
	    "\"logicalType\":\"date\"}}}]}");
	const struct cps_rtype *t = rs->root;

	assert_ptr_equal(t->fields[0].type->branches[1], t);
	assert_int_equal(t->fields[1].type->logical, CPS_LOGICAL_DECIMAL);
	assert_int_equal(t->fields[1].type->size, 6);
	assert_int_equal(t->fields[1].type->scale, 3);
	assert_int_equal(t->fields[2].type->logical, CPS_LOGICAL_NONE);
	assert_int_equal(t->fields[3].type->logical, CPS_LOGICAL_NONE);
	assert_int_equal(t->fields[4].type->items->logical, CPS_LOGICAL_DATE);
	cps_record_schema_free(rs);
}

/* ---- varied records written by Avro C ---------------------------------- */

static const char *const strings[] = {
    "",
    "a",
    "440305199001011234",
    "测试人员",
    "Ümlaut é",
    "😀 emoji",
    "line\nbreak",
    ("南山区测试街道12号 with a longer tail to pass one hundred and twenty-eight bytes, "
     "so that its length needs a two-byte varint in Avro binary........"),
};

static const int64_t decimals[] = {
    0,        1,    -1,  127,  128,           -128,           -129,
    -1234,    1234, 255, -256, 99999999999LL, -99999999999LL, INT64_MAX,
    INT64_MIN};

/* A decimal's minimal big-endian two's complement, as Avro writers produce. */
static size_t decimal_bytes(int64_t v, uint8_t *out)
{
	uint8_t be[8];
	size_t start = 0, i;

	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	while (start < 7 && ((be[start] == 0 && !(be[start + 1] & 0x80)) ||
	                     (be[start] == 0xff && (be[start + 1] & 0x80))))
		start++;
	memcpy(out, be + start, 8 - start);
	return 8 - start;
}

static void fill(avro_value_t *v, const struct cps_rtype *t, unsigned depth)
{
	avro_value_t child;
	uint8_t buf[64];
	size_t i, n;

	switch (t->kind) {
	case CPS_RK_NULL:
		CHECK_AVRO(avro_value_set_null(v));
		break;
	case CPS_RK_BOOLEAN:
		CHECK_AVRO(avro_value_set_boolean(v, (int)(rnd() & 1)));
		break;
	case CPS_RK_INT:
		CHECK_AVRO(avro_value_set_int(v, rnd() % 4 ? (int32_t)(rnd() % 40000) - 20000
		                                           : (int32_t)rnd()));
		break;
	case CPS_RK_LONG:
		CHECK_AVRO(avro_value_set_long(
		    v, rnd() % 4 ? 1700000000000LL + (int64_t)(rnd() % 1000000) : (int64_t)rnd()));
		break;
	case CPS_RK_FLOAT:
		CHECK_AVRO(avro_value_set_float(v, (float)(int32_t)rnd() / 1000.0f));
		break;
	case CPS_RK_DOUBLE:
		CHECK_AVRO(avro_value_set_double(v, (double)(int64_t)rnd() / 1e6));
		break;
	case CPS_RK_STRING:
		CHECK_AVRO(avro_value_set_string(v, strings[rnd() % CPS_ARRAY_SIZE(strings)]));
		break;
	case CPS_RK_BYTES:
		if (t->logical == CPS_LOGICAL_DECIMAL) {
			int64_t d = rnd() % 2 ? decimals[rnd() % CPS_ARRAY_SIZE(decimals)]
			                      : (int64_t)(rnd() % 2000000) - 1000000;

			n = decimal_bytes(d, buf);
		} else {
			n = rnd() % 20;
			for (i = 0; i < n; i++)
				buf[i] = (uint8_t)rnd();
		}
		CHECK_AVRO(avro_value_set_bytes(v, buf, n));
		break;
	case CPS_RK_FIXED:
		for (i = 0; i < t->size && i < sizeof(buf); i++)
			buf[i] = (uint8_t)rnd();
		CHECK_AVRO(avro_value_set_fixed(v, buf, t->size));
		break;
	case CPS_RK_ENUM:
		CHECK_AVRO(avro_value_set_enum(v, (int)(rnd() % t->n)));
		break;
	case CPS_RK_UNION: {
		size_t b = rnd() % t->n;

		if (depth > 4 && t->null_branch >= 0)
			b = (size_t)t->null_branch;
		CHECK_AVRO(avro_value_set_branch(v, (int)b, &child));
		fill(&child, t->branches[b], depth + 1);
		break;
	}
	case CPS_RK_RECORD:
		for (i = 0; i < t->n; i++) {
			CHECK_AVRO(avro_value_get_by_index(v, i, &child, NULL));
			fill(&child, t->fields[i].type, depth + 1);
		}
		break;
	case CPS_RK_ARRAY:
		n = depth > 4 ? 0 : rnd() % 4;
		for (i = 0; i < n; i++) {
			CHECK_AVRO(avro_value_append(v, &child, NULL));
			fill(&child, t->items, depth + 1);
		}
		break;
	case CPS_RK_MAP:
		n = depth > 4 ? 0 : rnd() % 4;
		for (i = 0; i < n; i++) {
			char key[16];

			snprintf(key, sizeof(key), "k%zu", i);
			CHECK_AVRO(avro_value_add(v, key, &child, NULL, NULL));
			fill(&child, t->items, depth + 1);
		}
		break;
	}
}

/* The typed value must hold what the Avro C value holds. */
static void same_value(avro_value_t *av, const struct cps_rtype *t, const struct cps_tval *v)
{
	avro_value_t child;
	const void *p;
	const char *s;
	size_t i, n = 0, len = 0;
	int32_t i32 = 0;
	int64_t i64 = 0;
	int b = 0;
	float f = 0;
	double d = 0;

	if (t->kind == CPS_RK_UNION) {
		CHECK_AVRO(avro_value_get_discriminant(av, &b));
		assert_int_equal(v->branch, b);
		CHECK_AVRO(avro_value_get_current_branch(av, &child));
		same_value(&child, t->branches[b], v);
		return;
	}
	assert_int_equal(v->kind, t->kind);
	assert_int_equal(v->logical, t->logical);
	switch (t->kind) {
	case CPS_RK_NULL:
		break;
	case CPS_RK_BOOLEAN:
		CHECK_AVRO(avro_value_get_boolean(av, &b));
		assert_int_equal(v->u.i, b);
		break;
	case CPS_RK_INT:
		CHECK_AVRO(avro_value_get_int(av, &i32));
		assert_int_equal(v->u.i, i32);
		break;
	case CPS_RK_LONG:
		CHECK_AVRO(avro_value_get_long(av, &i64));
		assert_int_equal(v->u.i, i64);
		break;
	case CPS_RK_FLOAT:
		CHECK_AVRO(avro_value_get_float(av, &f));
		assert_memory_equal(&v->u.f, &f, 4);
		break;
	case CPS_RK_DOUBLE:
		CHECK_AVRO(avro_value_get_double(av, &d));
		assert_memory_equal(&v->u.d, &d, 8);
		break;
	case CPS_RK_STRING:
		CHECK_AVRO(avro_value_get_string(av, &s, &len));
		assert_int_equal(v->u.b.len, len - 1); /* Avro C counts the NUL */
		assert_memory_equal(v->u.b.ptr, s, len - 1);
		break;
	case CPS_RK_BYTES:
	case CPS_RK_FIXED:
		if (t->kind == CPS_RK_BYTES)
			CHECK_AVRO(avro_value_get_bytes(av, &p, &len));
		else
			CHECK_AVRO(avro_value_get_fixed(av, &p, &len));
		if (t->logical == CPS_LOGICAL_DECIMAL) {
			const uint8_t *bp = p;
			int64_t want = (len && (bp[0] & 0x80)) ? -1 : 0;

			for (i = 0; i < len; i++)
				want = (int64_t)(((uint64_t)want << 8) | bp[i]);
			assert_int_equal(v->u.i, want);
		} else {
			assert_int_equal(v->u.b.len, len);
			if (len)
				assert_memory_equal(v->u.b.ptr, p, len);
		}
		break;
	case CPS_RK_ENUM:
		CHECK_AVRO(avro_value_get_enum(av, &b));
		assert_int_equal(v->u.i, b);
		break;
	case CPS_RK_RECORD:
	case CPS_RK_ARRAY:
	case CPS_RK_MAP:
		CHECK_AVRO(avro_value_get_size(av, &n));
		assert_int_equal(v->u.list.n, n);
		for (i = 0; i < n; i++) {
			const struct cps_tval *item;
			const char *key = NULL;

			CHECK_AVRO(avro_value_get_by_index(av, i, &child, &key));
			if (t->kind == CPS_RK_MAP) {
				item = &v->u.list.v[2 * i];
				assert_int_equal(item->kind, CPS_RK_STRING);
				assert_int_equal(item->u.b.len, strlen(key));
				assert_memory_equal(item->u.b.ptr, key, strlen(key));
				same_value(&child, t->items, item + 1);
			} else {
				same_value(&child,
				           t->kind == CPS_RK_RECORD ? t->fields[i].type : t->items,
				           &v->u.list.v[i]);
			}
		}
		break;
	default:
		fail();
	}
}

/* cps_record_to_json gives the text cps_value_to_json gives. */
static void same_json(avro_value_t *av, const struct cps_record_schema *rs,
                      const struct cps_tval *v)
{
	char err[CPS_ERRSTR_SIZE], terr[CPS_ERRSTR_SIZE];
	json_t *want = cps_value_to_json(av, err, sizeof(err));
	json_t *got = cps_record_to_json(rs, v, terr, sizeof(terr));
	char *a, *b;

	if (!want) {
		assert_null(got);
		assert_string_equal(terr, err);
		return;
	}
	if (!got) {
		fprintf(stderr, "cps_record_to_json: %s\n", terr);
		fail();
	}
	a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(b, a);
	free(a);
	free(b);
	json_decref(want);
	json_decref(got);
}

/* Avro JSON of a value straight to binary gives Avro C's bytes. */
static void same_json_encoding(avro_value_t *av, const struct cps_record_schema *rs,
                               const uint8_t *msg, size_t len, struct cps_buf *out)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *j = cps_value_to_json(av, err, sizeof(err));

	if (!j)
		return; /* not representable in JSON (same_json checked both refuse it) */
	cps_buf_reset(out);
	if (cps_record_encode_json(rs, j, out, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cps_record_encode_json: %s\n", err);
		fail();
	}
	assert_int_equal(out->len, len);
	assert_memory_equal(out->data, msg, len);
	json_decref(j);
}

/* Encoded records of one schema, back to back. */
struct corpus {
	struct cps_buf data;
	size_t off[257];
	size_t n;
};

static void make_corpus(struct cps_schema *s, const struct cps_record_schema *rs, size_t n,
                        struct corpus *c)
{
	avro_value_iface_t *iface = avro_generic_class_from_schema(s->avro);
	avro_value_t v;
	size_t i, size;

	assert_true(n < CPS_ARRAY_SIZE(c->off));
	CHECK_AVRO(avro_generic_value_new(iface, &v));
	cps_buf_init(&c->data, 0);
	c->off[0] = 0;
	c->n = n;
	for (i = 0; i < n; i++) {
		avro_writer_t w;

		CHECK_AVRO(avro_value_reset(&v));
		fill(&v, rs->root, 0);
		CHECK_AVRO(avro_value_sizeof(&v, &size));
		assert_int_equal(cps_buf_reserve(&c->data, size), 0);
		w = avro_writer_memory((char *)c->data.data + c->data.len, (int64_t)size);
		CHECK_AVRO(avro_value_write(w, &v));
		assert_int_equal(avro_writer_tell(w), (int64_t)size);
		avro_writer_free(w);
		c->data.len += size;
		c->off[i + 1] = c->data.len;
	}
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
}

static void test_roundtrip_catalog(void **state)
{
	struct cps_catalog *cat = load_catalog();
	char err[CPS_ERRSTR_SIZE];
	struct cps_arena arena;
	struct cps_buf out;
	size_t i, k, records = 0;

	cps_arena_init(&arena, 0);
	cps_buf_init(&out, 0);
	for (i = 0; i < cps_catalog_count(cat); i++) {
		struct cps_schema *s = cps_catalog_at(cat, i);
		avro_value_iface_t *iface = avro_generic_class_from_schema(s->avro);
		avro_reader_t reader = avro_reader_memory(NULL, 0);
		struct cps_record_schema *rs;
		struct corpus c;
		avro_value_t av;

		assert_int_equal(cps_record_schema_new(s, &rs, err, sizeof(err)), CPS_OK);
		make_corpus(s, rs, 200, &c);
		CHECK_AVRO(avro_generic_value_new(iface, &av));
		for (k = 0; k < c.n; k++) {
			const uint8_t *msg = c.data.data + c.off[k];
			size_t len = c.off[k + 1] - c.off[k];
			unsigned flags = k % 2 ? CPS_RECORD_COPY_BYTES : 0;
			struct cps_tval v;

			if (cps_record_decode(rs, msg, len, NULL, flags, &arena, &v, err,
			                      sizeof(err)) != CPS_OK) {
				fprintf(stderr, "%s record %zu: %s\n", s->name, k, err);
				fail();
			}
			avro_reader_memory_set_source(reader, (const char *)msg, (int64_t)len);
			CHECK_AVRO(avro_value_read(reader, &av));
			same_value(&av, rs->root, &v);
			same_json(&av, rs, &v);
			same_json_encoding(&av, rs, msg, len, &out);
			cps_buf_reset(&out);
			if (cps_record_encode(rs, &v, &out, err, sizeof(err)) != CPS_OK) {
				fprintf(stderr, "%s record %zu: %s\n", s->name, k, err);
				fail();
			}
			assert_int_equal(out.len, len);
			assert_memory_equal(out.data, msg, len);
			if (k % 10 == 9)
				cps_arena_reset(&arena);
			records++;
		}
		avro_value_decref(&av);
		avro_reader_free(reader);
		avro_value_iface_decref(iface);
		cps_buf_release(&c.data);
		cps_record_schema_free(rs);
	}
	assert_true(records >= 11 * 200);
	cps_buf_release(&out);
	cps_arena_release(&arena);
	cps_catalog_free(cat);
}

/* Every proper prefix of a valid record is refused, with the guard's reason. */
static void test_truncations(void **state)
{
	struct cps_catalog *cat = load_catalog();
	char err[CPS_ERRSTR_SIZE], gerr[CPS_ERRSTR_SIZE];
	struct cps_arena arena;
	size_t i, k, cut, cuts = 0;

	cps_arena_init(&arena, 0);
	for (i = 0; i < cps_catalog_count(cat); i++) {
		struct cps_schema *s = cps_catalog_at(cat, i);
		struct cps_record_schema *rs;
		struct corpus c;

		assert_int_equal(cps_record_schema_new(s, &rs, err, sizeof(err)), CPS_OK);
		make_corpus(s, rs, 8, &c);
		for (k = 0; k < c.n; k++) {
			const uint8_t *msg = c.data.data + c.off[k];
			size_t len = c.off[k + 1] - c.off[k];

			for (cut = 0; cut < len; cut++) {
				struct cps_tval v;
				int rc = cps_record_decode(rs, msg, cut, NULL, 0, &arena, &v, err,
				                           sizeof(err));

				assert_int_equal(rc, CPS_ERR_INVALID);
				assert_int_equal(
				    cps_guard_check(s->avro, msg, cut, NULL, gerr, sizeof(gerr)),
				    CPS_ERR_INVALID);
				if (strcmp(err, gerr) != 0) {
					fprintf(stderr, "typed \"%s\" guard \"%s\"\n", err, gerr);
					fail();
				}
				cuts++;
			}
			cps_arena_reset(&arena);
		}
		cps_buf_release(&c.data);
		cps_record_schema_free(rs);
	}
	assert_true(cuts > 1000);
	cps_arena_release(&arena);
	cps_catalog_free(cat);
}

/* ---- hostile bytes: each rule, with the guard's reason ------------------ */

/* Decodes with the typed decoder; returns its code, reason in err. When
 * `guard_too`, the guard must give the same verdict and the same reason. */
static int decode_text(const char *schema_json, const void *buf, size_t len,
                       const struct cps_guard_limits *limits, char *err, int guard_too)
{
	char gerr[CPS_ERRSTR_SIZE];
	struct cps_record_schema *rs;
	avro_schema_t avro = NULL;
	json_t *json = json_loads(schema_json, JSON_DECODE_ANY, NULL);
	struct cps_arena arena;
	struct cps_tval v;
	int rc, grc;

	assert_non_null(json);
	CHECK_AVRO(avro_schema_from_json_length(schema_json, strlen(schema_json), &avro));
	assert_int_equal(cps_record_schema_compile(avro, json, &rs, err, CPS_ERRSTR_SIZE), CPS_OK);
	cps_arena_init(&arena, 0);
	err[0] = '\0';
	rc = cps_record_decode(rs, buf, len, limits, 0, &arena, &v, err, CPS_ERRSTR_SIZE);
	if (guard_too) {
		gerr[0] = '\0';
		grc = cps_guard_check(avro, buf, len, limits, gerr, sizeof(gerr));
		assert_int_equal(rc, grc);
		if (strcmp(err, gerr) != 0) {
			fprintf(stderr, "typed \"%s\" guard \"%s\"\n", err, gerr);
			fail();
		}
	}
	cps_arena_release(&arena);
	cps_record_schema_free(rs);
	avro_schema_decref(avro);
	json_decref(json);
	return rc;
}

static void reject_l(const char *schema_json, const void *buf, size_t len,
                     const struct cps_guard_limits *limits, const char *reason, int guard_too)
{
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(decode_text(schema_json, buf, len, limits, err, guard_too),
	                 CPS_ERR_INVALID);
	if (!strstr(err, reason)) {
		fprintf(stderr, "want \"%s\", got \"%s\"\n", reason, err);
		fail();
	}
	assert_null(strchr(err, '\n'));
}

static void accept_l(const char *schema_json, const void *buf, size_t len,
                     const struct cps_guard_limits *limits)
{
	char err[CPS_ERRSTR_SIZE];

	if (decode_text(schema_json, buf, len, limits, err, 1) != CPS_OK) {
		fprintf(stderr, "unexpected rejection: %s\n", err);
		fail();
	}
}

#define B(...)                                                                                     \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define REJECT(s, bytes, reason)                                                                   \
	do {                                                                                       \
		static const uint8_t b_[] = bytes;                                                 \
		reject_l(s, b_, sizeof(b_), NULL, reason, 1);                                      \
	} while (0)
#define ACCEPT(s, bytes)                                                                           \
	do {                                                                                       \
		static const uint8_t b_[] = bytes;                                                 \
		accept_l(s, b_, sizeof(b_), NULL);                                                 \
	} while (0)

static void test_hostile_scalars(void **state)
{
	REJECT("\"long\"", B(0x80), "truncated varint at offset 0");
	REJECT("\"long\"", B(0x80, 0x00), "non-minimal varint at offset 0");
	REJECT("\"long\"", B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01),
	       "varint longer than 10 bytes at offset 0");
	REJECT("\"long\"", B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02),
	       "varint overflows 64 bits at offset 0");
	REJECT("\"int\"", B(0xff, 0xff, 0xff, 0xff, 0x10), "int out of range at offset 0");
	REJECT("\"int\"", B(0xff, 0xff, 0xff, 0xff, 0x8f, 0x01),
	       "varint longer than 5 bytes at offset 0");
	ACCEPT("\"int\"", B(0xff, 0xff, 0xff, 0xff, 0x0f));
	ACCEPT("\"long\"", B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
	REJECT("\"string\"", B(0x01), "negative string length -1 at offset 0");
	REJECT("\"bytes\"", B(0x03), "negative bytes length -2 at offset 0");
	REJECT("\"string\"", B(0x80, 0x80, 0x80, 0x80, 0x08, 'x'),
	       "string length 1073741824 exceeds remaining 1 bytes at offset 0");
	REJECT("{\"type\":\"fixed\",\"name\":\"F\",\"size\":16}", B(1, 2, 3),
	       "truncated fixed: 16 bytes needed, 3 remain at offset 0");
	REJECT("\"float\"", B(1, 2, 3), "truncated float: 4 bytes needed, 3 remain");
	REJECT("\"double\"", B(1, 2, 3, 4, 5, 6, 7), "truncated double: 8 bytes needed, 7 remain");
	REJECT("\"boolean\"", B(2), "boolean byte not 0 or 1 at offset 0");
	reject_l("\"boolean\"", "", 0, NULL, "truncated boolean at offset 0", 1);
	REJECT("\"int\"", B(0x02, 0x00, 0x00), "trailing bytes: 2 after the datum at offset 1");
}

static void test_hostile_enum_union(void **state)
{
	const char *rec = "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
	                  "{\"name\":\"age\",\"type\":\"int\"},"
	                  "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"G\","
	                  "\"symbols\":[\"A\",\"B\",\"C\",\"D\"]}}]}";

	REJECT(rec, B(0x54, 0x0e), "enum index 7 out of range 0..3 at offset 1 (.gender)");
	REJECT(rec, B(0x54, 0x01), "enum index -1 out of range 0..3 at offset 1 (.gender)");
	REJECT("[\"null\",\"string\"]", B(0x04), "union index 2 out of range 0..1 at offset 0");
	REJECT("[\"null\",\"string\"]", B(0x01), "union index -1 out of range 0..1");
	REJECT("[\"null\",\"string\"]", B(0x02, 0x04, 'a'),
	       "string length 2 exceeds remaining 1 bytes at offset 1");
}

static void test_hostile_blocks(void **state)
{
	const char *ints = "{\"type\":\"array\",\"items\":\"int\"}";
	const char *nulls = "{\"type\":\"array\",\"items\":\"null\"}";
	const char *empties = "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"E\","
	                      "\"fields\":[]}}";
	const char *map = "{\"type\":\"map\",\"values\":\"null\"}";
	struct cps_guard_limits l;
	static const uint8_t two_blocks[] = {0xc8, 0x01, 0xc8, 0x01, 0x00};
	char err[CPS_ERRSTR_SIZE];

	REJECT(ints, B(0x0a, 0x02), "block count 5 exceeds remaining 1 bytes at offset 0");
	REJECT(map, B(0x0a, 0x00), "block count 5 exceeds remaining 1 bytes at offset 0");
	REJECT(nulls, B(0x80, 0xa0, 0xd9, 0xe6, 0x1d, 0x00),
	       "too many items: block of 4000000000 after 0 exceeds max 1000000 at offset 0");
	REJECT(ints, B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00),
	       "block count -9223372036854775808 cannot be negated at offset 0");
	REJECT(ints, B(0x03, 0x06, 0x02, 0x04, 0x00),
	       "block byte size 3 does not match its 2 bytes of items at offset 0");
	REJECT(ints, B(0x03, 0x01, 0x02, 0x04, 0x00), "negative block byte size -1");
	REJECT(ints, B(0x03, 0x14, 0x02, 0x04, 0x00),
	       "block byte size 10 exceeds remaining 3 bytes");
	REJECT(ints, B(0x02, 0x02), "truncated varint at offset 2");
	ACCEPT(ints, B(0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00));
	ACCEPT(nulls, B(0xc8, 0x01, 0x00));
	ACCEPT(empties, B(0xc8, 0x01, 0x00));
	cps_guard_limits_default(&l);
	l.max_items = 150;
	reject_l(nulls, two_blocks, sizeof(two_blocks), &l,
	         "too many items: block of 100 after 100 exceeds max 150 at offset 2", 1);
	l.max_items = 200;
	assert_int_equal(decode_text(nulls, two_blocks, sizeof(two_blocks), &l, err, 1), CPS_OK);
}

/* Several blocks (and a negative count) gather into one array; the encoder
 * writes them as one block. 1000 one-item blocks stay linear. */
static void test_blocks_gathered(void **state)
{
	struct cps_record_schema *rs;
	avro_schema_t avro;
	const char *ints = "{\"type\":\"array\",\"items\":\"int\"}";
	static const uint8_t three[] = {0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00};
	static const uint8_t canon[] = {0x06, 0x02, 0x04, 0x06, 0x00};
	uint8_t many[2 * 1000 + 1];
	struct cps_arena arena;
	struct cps_buf out;
	struct cps_tval v;
	char err[CPS_ERRSTR_SIZE];
	size_t i;

	CHECK_AVRO(avro_schema_from_json_length(ints, strlen(ints), &avro));
	assert_int_equal(cps_record_schema_compile(avro, NULL, &rs, err, sizeof(err)), CPS_OK);
	avro_schema_decref(avro);
	cps_arena_init(&arena, 0);
	cps_buf_init(&out, 0);
	assert_int_equal(
	    cps_record_decode(rs, three, sizeof(three), NULL, 0, &arena, &v, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(v.kind, CPS_RK_ARRAY);
	assert_int_equal(v.u.list.n, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(v.u.list.v[i].u.i, (int64_t)i + 1);
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_OK);
	assert_int_equal(out.len, sizeof(canon));
	assert_memory_equal(out.data, canon, sizeof(canon));
	for (i = 0; i < 1000; i++) {
		many[2 * i] = 0x02;                        /* a block of one */
		many[2 * i + 1] = (uint8_t)(2 * (i % 60)); /* the int i % 60 */
	}
	many[2000] = 0;
	assert_int_equal(
	    cps_record_decode(rs, many, sizeof(many), NULL, 0, &arena, &v, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(v.u.list.n, 1000);
	assert_int_equal(v.u.list.v[999].u.i, 999 % 60);
	assert_true(cps_arena_used(&arena) < 4 * 1000 * sizeof(struct cps_tval));
	cps_buf_release(&out);
	cps_arena_release(&arena);
	cps_record_schema_free(rs);
}

static void test_hostile_depth_paths(void **state)
{
	const char *list = "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
	                   "{\"name\":\"v\",\"type\":\"int\"},"
	                   "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
	const char *h = "{\"type\":\"record\",\"name\":\"H\",\"fields\":["
	                "{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":{"
	                "\"type\":\"record\",\"name\":\"M\",\"fields\":["
	                "{\"name\":\"national_id\",\"type\":\"string\"}]}}},"
	                "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}]}";
	static const uint8_t five[] = {2, 2, 4, 2, 6, 2, 8, 2, 10, 0};
	static const uint8_t bad_member[] = {0x04, 0x24, '4', '4', '0',  '3', '0', '1',
	                                     '1',  '9',  '9', '0', '0',  '1', '0', '1',
	                                     '1',  '2',  '3', '4', 0x30, 'x'};
	static const uint8_t bad_key[] = {0x00, 0x02, 0x10, 'x'};
	static const uint8_t bad_value[] = {0x00, 0x02, 0x02, 'k', 0x80};
	uint8_t deep[4001];
	struct cps_guard_limits l;
	char err[CPS_ERRSTR_SIZE];
	size_t i;

	cps_guard_limits_default(&l);
	accept_l(list, five, sizeof(five), &l);
	l.max_depth = 9;
	reject_l(list, five, sizeof(five), &l,
	         "nesting deeper than 9 at offset 9 (.next.next.next.next.next)", 1);
	l.max_depth = 10;
	accept_l(list, five, sizeof(five), &l);
	for (i = 0; i < 2000; i++) {
		deep[2 * i] = 2;
		deep[2 * i + 1] = 2;
	}
	deep[4000] = 0;
	l.max_depth = 1000000;
	reject_l(list, deep, sizeof(deep), &l, "nesting deeper than 512", 1);
	cps_guard_limits_default(&l);
	l.max_message_bytes = 2;
	reject_l("\"string\"",
	         "\x04"
	         "ab",
	         3, &l, "message of 3 bytes exceeds max 2", 1);
	reject_l(h, bad_member, sizeof(bad_member), NULL,
	         "string length 24 exceeds remaining 1 bytes at offset 20 "
	         "(.members[1].national_id)",
	         1);
	assert_int_equal(decode_text(h, bad_member, sizeof(bad_member), NULL, err, 1),
	                 CPS_ERR_INVALID);
	assert_null(strstr(err, "4403"));
	reject_l(h, bad_key, sizeof(bad_key), NULL,
	         "map key length 8 exceeds remaining 1 bytes at offset 2 (.attrs{0}<key>)", 1);
	reject_l(h, bad_value, sizeof(bad_value), NULL, "truncated varint at offset 4 (.attrs{0})",
	         1);
}

/* ---- logical types ------------------------------------------------------ */

static const char DEC[] =
    "{\"type\":\"record\",\"name\":\"D\",\"fields\":["
    "{\"name\":\"amount\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":12,\"scale\":2}},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"fx\",\"type\":[\"null\",{\"type\":\"fixed\",\"name\":\"F\",\"size\":10,"
    "\"logicalType\":\"decimal\",\"precision\":20,\"scale\":4}]}]}";

/* Decodes `bytes` as DEC; on success re-encodes into *out. */
static int decode_dec(const uint8_t *bytes, size_t len, struct cps_tval *v, struct cps_arena *arena,
                      struct cps_buf *out, char *err)
{
	static struct cps_record_schema *rs;
	int rc;

	if (!rs) {
		avro_schema_t avro;
		json_t *json = json_loads(DEC, 0, NULL);

		CHECK_AVRO(avro_schema_from_json_length(DEC, strlen(DEC), &avro));
		assert_int_equal(cps_record_schema_compile(avro, json, &rs, err, CPS_ERRSTR_SIZE),
		                 CPS_OK);
		avro_schema_decref(avro);
		json_decref(json);
	}
	if (!bytes) { /* teardown */
		cps_record_schema_free(rs);
		rs = NULL;
		return 0;
	}
	err[0] = '\0';
	rc = cps_record_decode(rs, bytes, len, NULL, 0, arena, v, err, CPS_ERRSTR_SIZE);
	if (rc == CPS_OK) {
		cps_buf_reset(out);
		assert_int_equal(cps_record_encode(rs, v, out, err, CPS_ERRSTR_SIZE), CPS_OK);
	}
	return rc;
}

static void test_logical_types(void **state)
{
	/* -12.34 = FB 2E; day 19000; 1700000000000 ms; fixed null */
	static const uint8_t rec[] = {0x04, 0xfb, 0x2e, 0xf0, 0xa8, 0x02, 0x80,
	                              0xa0, 0xab, 0xfe, 0xf9, 0x62, 0x00};
	/* Python's avro writes -128 as FF 80 (not minimal): read, then written as 80 */
	static const uint8_t py128[] = {0x04, 0xff, 0x80, 0x00, 0x00, 0x00};
	static const uint8_t min128[] = {0x02, 0x80, 0x00, 0x00, 0x00};
	/* nine bytes that still fit 64 bits (sign extension only) */
	static const uint8_t nine_ok[] = {0x12, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00,
	                                  0x00, 0x00, 0x05, 0x00, 0x00, 0x00};
	static const uint8_t nine_big[] = {0x12, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t empty[] = {0x00, 0x00, 0x00, 0x00};
	/* the fixed(10) decimal -1: ten FF bytes, then -5 as a fixed */
	static const uint8_t fx[] = {0x02, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff,
	                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb};
	static const uint8_t fx_big[] = {0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00,
	                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	struct cps_arena arena;
	struct cps_buf out;
	struct cps_tval v;
	char err[CPS_ERRSTR_SIZE];

	cps_arena_init(&arena, 0);
	cps_buf_init(&out, 0);
	assert_int_equal(decode_dec(rec, sizeof(rec), &v, &arena, &out, err), CPS_OK);
	assert_int_equal(v.u.list.n, 4);
	assert_int_equal(v.u.list.v[0].logical, CPS_LOGICAL_DECIMAL);
	assert_int_equal(v.u.list.v[0].u.i, -1234);
	assert_int_equal(v.u.list.v[1].logical, CPS_LOGICAL_DATE);
	assert_int_equal(v.u.list.v[1].u.i, 19000);
	assert_int_equal(v.u.list.v[2].logical, CPS_LOGICAL_TIMESTAMP_MILLIS);
	assert_int_equal(v.u.list.v[2].u.i, 1700000000000LL);
	assert_int_equal(v.u.list.v[3].branch, 0);
	assert_int_equal(v.u.list.v[3].kind, CPS_RK_NULL);
	assert_int_equal(out.len, sizeof(rec));
	assert_memory_equal(out.data, rec, sizeof(rec));

	assert_int_equal(decode_dec(py128, sizeof(py128), &v, &arena, &out, err), CPS_OK);
	assert_int_equal(v.u.list.v[0].u.i, -128);
	assert_int_equal(out.len, sizeof(min128));
	assert_memory_equal(out.data, min128, sizeof(min128));
	assert_int_equal(decode_dec(nine_ok, sizeof(nine_ok), &v, &arena, &out, err), CPS_OK);
	assert_int_equal(v.u.list.v[0].u.i, INT64_MIN + 5);
	assert_int_equal(decode_dec(nine_big, sizeof(nine_big), &v, &arena, &out, err),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "decimal of 9 bytes does not fit 64 bits at offset 0 (.amount)");
	assert_int_equal(decode_dec(empty, sizeof(empty), &v, &arena, &out, err), CPS_ERR_INVALID);
	assert_string_equal(err, "decimal of 0 bytes at offset 0 (.amount)");

	assert_int_equal(decode_dec(fx, sizeof(fx), &v, &arena, &out, err), CPS_OK);
	assert_int_equal(v.u.list.v[3].branch, 1);
	assert_int_equal(v.u.list.v[3].kind, CPS_RK_FIXED);
	assert_int_equal(v.u.list.v[3].logical, CPS_LOGICAL_DECIMAL);
	assert_int_equal(v.u.list.v[3].u.i, -5);
	assert_int_equal(out.len, sizeof(fx));
	assert_memory_equal(out.data, fx, sizeof(fx));
	assert_int_equal(decode_dec(fx_big, sizeof(fx_big), &v, &arena, &out, err),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "decimal of 10 bytes does not fit 64 bits at offset 5 (.fx)");

	decode_dec(NULL, 0, NULL, NULL, NULL, err);
	cps_buf_release(&out);
	cps_arena_release(&arena);
}

/* A household of the catalog: -12.34 written by Avro C reads as -1234, scale 2. */
static void test_catalog_decimal_date(void **state)
{
	struct cps_catalog *cat = load_catalog();
	struct cps_schema *s = cps_catalog_by_entity(cat, "person");
	avro_value_iface_t *iface = avro_generic_class_from_schema(s->avro);
	struct cps_record_schema *rs;
	const struct cps_rfield *f;
	avro_value_t av, fv;
	struct cps_arena arena;
	struct cps_tval v;
	char err[CPS_ERRSTR_SIZE], buf[4096];
	avro_writer_t w;
	size_t i;

	cps_arena_init(&arena, 0);
	assert_int_equal(cps_record_schema_new(s, &rs, err, sizeof(err)), CPS_OK);
	CHECK_AVRO(avro_generic_value_new(iface, &av));
	fill(&av, rs->root, 0);
	CHECK_AVRO(avro_value_get_by_name(&av, "birth_date", &fv, NULL));
	CHECK_AVRO(avro_value_set_int(&fv, -3653)); /* 1960-01-01 */
	w = avro_writer_memory(buf, sizeof(buf));
	CHECK_AVRO(avro_value_write(w, &av));
	assert_int_equal(cps_record_decode(rs, buf, (size_t)avro_writer_tell(w), NULL, 0, &arena,
	                                   &v, err, sizeof(err)),
	                 CPS_OK);
	f = cps_rtype_field(rs->root, "birth_date");
	assert_int_equal(v.u.list.v[f->index].logical, CPS_LOGICAL_DATE);
	assert_int_equal(v.u.list.v[f->index].u.i, -3653);
	avro_writer_free(w);
	avro_value_decref(&av);
	avro_value_iface_decref(iface);
	cps_record_schema_free(rs);

	s = cps_catalog_by_entity(cat, "household");
	iface = avro_generic_class_from_schema(s->avro);
	assert_int_equal(cps_record_schema_new(s, &rs, err, sizeof(err)), CPS_OK);
	CHECK_AVRO(avro_generic_value_new(iface, &av));
	fill(&av, rs->root, 0);
	f = cps_rtype_field(rs->root, "per_capita_monthly_income");
	CHECK_AVRO(avro_value_get_by_name(&av, "per_capita_monthly_income", &fv, NULL));
	if (f->nullable) {
		avro_value_t br = fv;

		CHECK_AVRO(avro_value_set_branch(&fv, f->type->null_branch == 0 ? 1 : 0, &br));
		fv = br;
	}
	CHECK_AVRO(avro_value_set_bytes(&fv, "\xfb\x2e", 2)); /* -1234 */
	w = avro_writer_memory(buf, sizeof(buf));
	CHECK_AVRO(avro_value_write(w, &av));
	assert_int_equal(cps_record_decode(rs, buf, (size_t)avro_writer_tell(w), NULL, 0, &arena,
	                                   &v, err, sizeof(err)),
	                 CPS_OK);
	i = f->index;
	assert_int_equal(v.u.list.v[i].logical, CPS_LOGICAL_DECIMAL);
	assert_int_equal(v.u.list.v[i].u.i, -1234);
	avro_writer_free(w);
	avro_value_decref(&av);
	avro_value_iface_decref(iface);
	cps_record_schema_free(rs);
	cps_arena_release(&arena);
	cps_catalog_free(cat);
}

/* ---- the encoder refuses values that do not match the schema ----------- */

static void test_encode_mismatch(void **state)
{
	struct cps_record_schema *rs = compile_text(
	    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	    "{\"name\":\"i\",\"type\":\"int\"},"
	    "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
	    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}},"
	    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"boolean\"}}]}");
	struct cps_tval f[4], items[2], v;
	struct cps_buf out;
	char err[CPS_ERRSTR_SIZE];

	memset(f, 0, sizeof(f));
	memset(items, 0, sizeof(items));
	f[0].kind = CPS_RK_INT;
	f[0].branch = -1;
	f[1].kind = CPS_RK_STRING;
	f[1].branch = 1;
	f[1].u.b.ptr = (const uint8_t *)"hi";
	f[1].u.b.len = 2;
	f[2].kind = CPS_RK_ENUM;
	f[2].branch = -1;
	f[3].kind = CPS_RK_ARRAY;
	f[3].branch = -1;
	f[3].u.list.v = items;
	f[3].u.list.n = 2;
	items[0].kind = items[1].kind = CPS_RK_BOOLEAN;
	items[1].u.i = 1;
	memset(&v, 0, sizeof(v));
	v.kind = CPS_RK_RECORD;
	v.u.list.v = f;
	v.u.list.n = 4;
	cps_buf_init(&out, 0);
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_OK);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.data, "\x00\x02\x04hi\x00\x04\x00\x01\x00", 10);

	f[0].u.i = (int64_t)INT32_MAX + 1;
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "cannot encode: int out of range (.i)");
	f[0].u.i = 0;
	f[1].branch = 2;
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "cannot encode: union branch 2 out of range 0..1 (.u)");
	f[1].branch = 0;
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err,
	                    "cannot encode: value of type string where the schema has null (.u)");
	f[1].branch = 1;
	f[2].u.i = 1;
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "cannot encode: enum index 1 out of range 0..0 (.e)");
	f[2].u.i = 0;
	items[1].u.i = 2;
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "cannot encode: boolean not 0 or 1 (.a[1])");
	items[1].u.i = 1;
	v.u.list.n = 3;
	assert_int_equal(cps_record_encode(rs, &v, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "cannot encode: record of 3 fields where R has 4 (.)");
	cps_buf_release(&out);
	cps_record_schema_free(rs);
}

/* JSON failures read as avro_json's: invalid UTF-8, non-finite numbers. */
/* JSON that does not fit the schema is refused with the field path, never
 * its content. */
static void test_encode_json_mismatch(void **state)
{
	static const char schema[] =
	    "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
	    "{\"name\":\"id\",\"type\":\"string\"},"
	    "{\"name\":\"n\",\"type\":[\"null\",\"int\"]},"
	    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"f2\",\"size\":2}}]}";
	static const struct {
		const char *json, *why;
	} cases[] = {
	    {"{\"id\":\"440301\",\"n\":null}", "has 3 fields, the JSON 2"},
	    {"{\"id\":\"440301\",\"n\":null,\"x\":1}", "missing field (.f)"},
	    {"{\"id\":\"440301\",\"n\":{\"long\":1},\"f\":\"ab\"}", "unknown union branch (.n)"},
	    {"{\"id\":\"440301\",\"n\":{\"int\":3000000000},\"f\":\"ab\"}", "expected an int (.n)"},
	    {"{\"id\":\"440301\",\"n\":null,\"f\":\"abc\"}", "expected 2 bytes, got 3 (.f)"},
	    {"{\"id\":\"440301\",\"n\":null,\"f\":\"a\u0100\"}", "code point above 255"},
	    {"{\"id\":7,\"n\":null,\"f\":\"ab\"}", "expected a string (.id)"},
	};
	struct cps_record_schema *rs = compile_text(schema);
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf out;

	cps_buf_init(&out, 0);
	for (size_t i = 0; i < CPS_ARRAY_SIZE(cases); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);

		assert_non_null(j);
		cps_buf_reset(&out);
		assert_int_equal(cps_record_encode_json(rs, j, &out, err, sizeof(err)),
		                 CPS_ERR_INVALID);
		if (!strstr(err, cases[i].why)) {
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err, cases[i].why);
			fail();
		}
		assert_null(strstr(err, "440301"));
		json_decref(j);
	}
	cps_buf_release(&out);
	cps_record_schema_free(rs);
}

static void test_json_errors(void **state)
{
	const char *schema =
	    "{\"type\":\"record\",\"name\":\"J\",\"fields\":["
	    "{\"name\":\"d\",\"type\":\"double\"},"
	    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\"]}}]}";
	/* d = 1.5; m = {"k": "\xff"} */
	uint8_t bad_string[] = {0,    0,    0,   0,    0,    0,    0xf8, 0x3f,
	                        0x02, 0x02, 'k', 0x02, 0x02, 0xff, 0x00};
	uint8_t bad_key[] = {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x02, 0x02, 0xfe, 0x00, 0x00};
	uint8_t inf[] = {0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0x00};
	uint8_t ok[] = {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x02, 0x02, 'k', 0x02, 0x02, 'v', 0x00};
	struct {
		const uint8_t *bytes;
		size_t len;
		const char *reason;
	} cases[] = {
	    {bad_string, sizeof(bad_string), "string at .m{0} is not valid UTF-8"},
	    {bad_key, sizeof(bad_key), "map key at .m{0} is not valid UTF-8"},
	    {inf, sizeof(inf), "non-finite number at .d has no JSON encoding"},
	    {ok, sizeof(ok), NULL},
	};
	struct cps_record_schema *rs = compile_text(schema);
	avro_value_iface_t *iface = avro_generic_class_from_schema(rs->avro);
	avro_reader_t reader = avro_reader_memory(NULL, 0);
	char err[CPS_ERRSTR_SIZE];
	struct cps_arena arena;
	avro_value_t av;
	size_t i;

	cps_arena_init(&arena, 0);
	CHECK_AVRO(avro_generic_value_new(iface, &av));
	for (i = 0; i < CPS_ARRAY_SIZE(cases); i++) {
		struct cps_tval v;
		json_t *j;

		assert_int_equal(cps_record_decode(rs, cases[i].bytes, cases[i].len, NULL, 0,
		                                   &arena, &v, err, sizeof(err)),
		                 CPS_OK);
		avro_reader_memory_set_source(reader, (const char *)cases[i].bytes,
		                              (int64_t)cases[i].len);
		CHECK_AVRO(avro_value_read(reader, &av));
		same_json(&av, rs, &v); /* the same text, or the same failure */
		j = cps_record_to_json(rs, &v, err, sizeof(err));
		if (cases[i].reason) {
			assert_null(j);
			assert_string_equal(err, cases[i].reason);
		} else {
			assert_non_null(j);
			json_decref(j);
		}
	}
	avro_value_decref(&av);
	avro_reader_free(reader);
	avro_value_iface_decref(iface);
	cps_arena_release(&arena);
	cps_record_schema_free(rs);
}

/* The _at forms on a part of a compiled schema (a field's type): the same
 * JSON and the same bytes as that part of the whole value. */
static void test_json_and_encode_at(void **state)
{
	const char *schema =
	    "{\"type\":\"record\",\"name\":\"ns.Ev\",\"fields\":["
	    "{\"name\":\"key\",\"type\":\"string\"},"
	    "{\"name\":\"prov\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
	    "\"name\":\"ns.P\",\"fields\":[{\"name\":\"field\",\"type\":\"string\"},"
	    "{\"name\":\"platform\",\"type\":[\"null\",\"string\"]}]}}},"
	    "{\"name\":\"rule\",\"type\":\"string\"}]}";
	/* key "k"; prov [{"a", "x"}, {"b", null}]; rule "top" */
	const uint8_t bytes[] = {0x02, 'k', 0x04, 0x02, 'a',  0x02, 0x02, 'x',
	                         0x02, 'b', 0x00, 0x00, 0x06, 't',  'o',  'p'};
	struct cps_record_schema *rs = compile_text(schema);
	const struct cps_rfield *prov = cps_rtype_field(rs->root, "prov");
	char err[CPS_ERRSTR_SIZE];
	struct cps_arena arena;
	struct cps_buf out;
	struct cps_tval v;
	json_t *whole, *part;

	(void)state;
	cps_arena_init(&arena, 0);
	cps_buf_init(&out, 0);
	assert_non_null(prov);
	assert_int_equal(
	    cps_record_decode(rs, bytes, sizeof(bytes), NULL, 0, &arena, &v, err, sizeof(err)),
	    CPS_OK);
	whole = cps_record_to_json(rs, &v, err, sizeof(err));
	part = cps_record_to_json_at(prov->type, &v.u.list.v[prov->index], err, sizeof(err));
	assert_non_null(whole);
	assert_non_null(part);
	assert_true(json_equal(json_object_get(whole, "prov"), part));
	assert_int_equal(json_array_size(part), 2);
	assert_int_equal(
	    cps_record_encode_at(prov->type, &v.u.list.v[prov->index], &out, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(out.len, 10); /* bytes 2..11: the array */
	assert_memory_equal(out.data, bytes + 2, 10);
	json_decref(whole);
	json_decref(part);
	cps_buf_release(&out);
	cps_arena_release(&arena);
	cps_record_schema_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_compile_catalog),
	    cmocka_unit_test(test_compile_shapes),
	    cmocka_unit_test(test_roundtrip_catalog),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_hostile_scalars),
	    cmocka_unit_test(test_hostile_enum_union),
	    cmocka_unit_test(test_hostile_blocks),
	    cmocka_unit_test(test_blocks_gathered),
	    cmocka_unit_test(test_hostile_depth_paths),
	    cmocka_unit_test(test_logical_types),
	    cmocka_unit_test(test_catalog_decimal_date),
	    cmocka_unit_test(test_encode_mismatch),
	    cmocka_unit_test(test_json_errors),
	    cmocka_unit_test(test_json_and_encode_at),
	    cmocka_unit_test(test_encode_json_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
