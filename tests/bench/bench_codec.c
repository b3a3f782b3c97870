/*
 * What the guard costs: decode+encode throughput of bare Avro C against the
 * guard followed by the same decode+encode, on N realistic person-like
 * records (15 fields). Also the typed decoder (codec/record.h, which guards
 * by itself) alone and with the typed encoder, on the same records, its
 * arena reset every TYPED_BATCH records as a per-batch arena would be.
 * Rounds alternate; the best of each is reported.
 * Times are this thread's CPU time, so other load on the machine matters less.
 *
 *   bench_codec [N=200000] [ROUNDS=5]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avro.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/common.h"
#include "codec/guard.h"
#include "codec/record.h"

/* Records decoded into the arena between two resets. */
#define TYPED_BATCH 256

static const char PERSON[] =
    "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"bench\",\"fields\":["
    "{\"name\":\"national_id\",\"type\":\"string\"},"
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"Gender\","
    "\"symbols\":[\"UNKNOWN\",\"MALE\",\"FEMALE\",\"UNSPECIFIED\"]}},"
    "{\"name\":\"birth_date\",\"type\":\"int\"},"
    "{\"name\":\"registration_region_code\",\"type\":\"string\"},"
    "{\"name\":\"residence_region_code\",\"type\":\"string\"},"
    "{\"name\":\"residence_address\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"has_residence_permit\",\"type\":\"boolean\"},"
    "{\"name\":\"disabled\",\"type\":\"boolean\"},"
    "{\"name\":\"household_id\",\"type\":\"string\"},"
    "{\"name\":\"monthly_income_cents\",\"type\":\"long\"},"
    "{\"name\":\"assistance_level\",\"type\":\"int\"},"
    "{\"name\":\"phones\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"source_version\",\"type\":\"long\"},"
    "{\"name\":\"updated_at_ms\",\"type\":\"long\"}]}";

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if ((expr) != 0) {                                                                 \
			fprintf(stderr, "bench_codec: %s failed: %s\n", #expr, avro_strerror());   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_string(avro_value_t *rec, const char *field, const char *s)
{
	avro_value_t f;

	CHECK(avro_value_get_by_name(rec, field, &f, NULL));
	CHECK(avro_value_set_string(&f, s));
}

/* Synthetic, obviously fake data of realistic shape and size. */
static void fill_person(avro_value_t *rec, size_t i)
{
	char id[32], name[32], hh[32], addr[64], phone[24];
	avro_value_t f, br, item;
	size_t k;

	snprintf(id, sizeof(id), "440305%08zu%03zu%c", 19500101 + i % 500000, i % 1000,
	         "0123456789X"[i % 11]);
	snprintf(name, sizeof(name), "测试人员%zu", i);
	snprintf(hh, sizeof(hh), "HH-440305-%09zu", i / 3);
	snprintf(addr, sizeof(addr), "南山区测试街道%zu号", i % 997);
	set_string(rec, "national_id", id);
	set_string(rec, "name", name);
	CHECK(avro_value_get_by_name(rec, "gender", &f, NULL));
	CHECK(avro_value_set_enum(&f, 1 + (int)(i % 2)));
	CHECK(avro_value_get_by_name(rec, "birth_date", &f, NULL));
	CHECK(avro_value_set_int(&f, (int32_t)(-7000 + i % 20000)));
	set_string(rec, "registration_region_code", i % 5 ? "440305" : "441521");
	set_string(rec, "residence_region_code", "440305");
	CHECK(avro_value_get_by_name(rec, "residence_address", &f, NULL));
	if (i % 4) {
		CHECK(avro_value_set_branch(&f, 1, &br));
		CHECK(avro_value_set_string(&br, addr));
	} else {
		CHECK(avro_value_set_branch(&f, 0, &br));
		CHECK(avro_value_set_null(&br));
	}
	CHECK(avro_value_get_by_name(rec, "has_residence_permit", &f, NULL));
	CHECK(avro_value_set_boolean(&f, i % 3 == 0));
	CHECK(avro_value_get_by_name(rec, "disabled", &f, NULL));
	CHECK(avro_value_set_boolean(&f, i % 17 == 0));
	set_string(rec, "household_id", hh);
	CHECK(avro_value_get_by_name(rec, "monthly_income_cents", &f, NULL));
	CHECK(avro_value_set_long(&f, (int64_t)(i * 7919 % 1500000)));
	CHECK(avro_value_get_by_name(rec, "assistance_level", &f, NULL));
	CHECK(avro_value_set_int(&f, (int32_t)(i % 4)));
	CHECK(avro_value_get_by_name(rec, "phones", &f, NULL));
	CHECK(avro_value_reset(&f));
	for (k = 0; k < 1 + i % 3; k++) {
		snprintf(phone, sizeof(phone), "1380000%04zu", (i + k) % 10000);
		CHECK(avro_value_append(&f, &item, NULL));
		CHECK(avro_value_set_string(&item, phone));
	}
	CHECK(avro_value_get_by_name(rec, "source_version", &f, NULL));
	CHECK(avro_value_set_long(&f, (int64_t)i));
	CHECK(avro_value_get_by_name(rec, "updated_at_ms", &f, NULL));
	CHECK(avro_value_set_long(&f, 1700000000000LL + (int64_t)i * 1000));
}

struct corpus {
	char *data;
	size_t *off;
	size_t n;
};

/* One pass over every record; returns elapsed seconds. */
static double run(const struct corpus *c, avro_schema_t schema, avro_value_t *v,
                  avro_reader_t reader, avro_writer_t writer, char *out, size_t out_size,
                  int guarded, int decode)
{
	const struct cps_guard_limits *limits = NULL;
	struct cps_guard_limits l;
	char err[CPS_ERRSTR_SIZE];
	double t0 = now();
	size_t i;

	cps_guard_limits_default(&l);
	limits = &l;
	for (i = 0; i < c->n; i++) {
		const char *msg = c->data + c->off[i];
		size_t len = c->off[i + 1] - c->off[i];

		if (guarded && cps_guard_check(schema, msg, len, limits, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_codec: guard refused record %zu: %s\n", i, err);
			exit(1);
		}
		if (!decode)
			continue;
		avro_reader_memory_set_source(reader, msg, (int64_t)len);
		CHECK(avro_value_read(reader, v));
		avro_writer_memory_set_dest(writer, out, (int64_t)out_size);
		CHECK(avro_value_write(writer, v));
		if ((size_t)avro_writer_tell(writer) != len) {
			fprintf(stderr, "bench_codec: record %zu re-encoded to a different size\n",
			        i);
			exit(1);
		}
	}
	return now() - t0;
}

/* One pass of the typed decoder (and encoder when `encode`) over every
 * record; returns elapsed seconds. With `verify`, the encoding must be the
 * input byte for byte. */
static double run_typed(const struct corpus *c, const struct cps_record_schema *rs,
                        struct cps_arena *arena, struct cps_buf *out, int encode, int verify)
{
	char err[CPS_ERRSTR_SIZE];
	double t0 = now();
	struct cps_tval v;
	size_t i;

	for (i = 0; i < c->n; i++) {
		const char *msg = c->data + c->off[i];
		size_t len = c->off[i + 1] - c->off[i];

		if (i % TYPED_BATCH == 0)
			cps_arena_reset(arena);
		if (cps_record_decode(rs, msg, len, NULL, 0, arena, &v, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_codec: typed decoder refused record %zu: %s\n", i,
			        err);
			exit(1);
		}
		if (!encode)
			continue;
		cps_buf_reset(out);
		if (cps_record_encode(rs, &v, out, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_codec: typed encoder refused record %zu: %s\n", i,
			        err);
			exit(1);
		}
		if (out->len != len || (verify && memcmp(out->data, msg, len) != 0)) {
			fprintf(stderr, "bench_codec: record %zu typed re-encoding differs\n", i);
			exit(1);
		}
	}
	return now() - t0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t v;
	avro_reader_t reader;
	avro_writer_t writer;
	struct corpus c;
	size_t cap, i;
	char out[4096];
	double best_bare = 1e30, best_guarded = 1e30, best_guard_only = 1e30;
	double best_typed = 1e30, best_typed_rt = 1e30;
	struct cps_record_schema *rs;
	struct cps_arena arena;
	struct cps_buf tout;
	char err[CPS_ERRSTR_SIZE];
	json_t *json;
	int r;

	if (n == 0 || rounds <= 0) {
		fprintf(stderr, "usage: bench_codec [N] [ROUNDS]\n");
		return 2;
	}
	CHECK(avro_schema_from_json_length(PERSON, strlen(PERSON), &schema));
	iface = avro_generic_class_from_schema(schema);
	CHECK(avro_generic_value_new(iface, &v));
	json = json_loads(PERSON, 0, NULL);
	if (!json || cps_record_schema_compile(schema, json, &rs, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_codec: cannot compile the typed schema: %s\n", err);
		return 1;
	}
	json_decref(json);
	cps_arena_init(&arena, 0);
	cps_buf_init(&tout, 0);

	/* encode the records once, back to back */
	cap = n * 256;
	c.data = malloc(cap);
	c.off = malloc((n + 1) * sizeof(*c.off));
	c.n = n;
	if (!c.data || !c.off)
		return 1;
	writer = avro_writer_memory(c.data, (int64_t)cap);
	c.off[0] = 0;
	for (i = 0; i < n; i++) {
		fill_person(&v, i);
		CHECK(avro_value_write(writer, &v));
		c.off[i + 1] = (size_t)avro_writer_tell(writer);
	}
	avro_writer_free(writer);
	printf("records: %zu, %.1f bytes each on average, %d rounds\n", n,
	       (double)c.off[n] / (double)n, rounds);

	reader = avro_reader_memory(NULL, 0);
	writer = avro_writer_memory(out, sizeof(out));
	run_typed(&c, rs, &arena, &tout, 1, 1); /* the typed round trip is exact */
	for (r = 0; r < rounds; r++) {
		double t;

		t = run(&c, schema, &v, reader, writer, out, sizeof(out), 0, 1);
		if (t < best_bare)
			best_bare = t;
		t = run(&c, schema, &v, reader, writer, out, sizeof(out), 1, 1);
		if (t < best_guarded)
			best_guarded = t;
		t = run(&c, schema, &v, reader, writer, out, sizeof(out), 1, 0);
		if (t < best_guard_only)
			best_guard_only = t;
		t = run_typed(&c, rs, &arena, &tout, 0, 0);
		if (t < best_typed)
			best_typed = t;
		t = run_typed(&c, rs, &arena, &tout, 1, 0);
		if (t < best_typed_rt)
			best_typed_rt = t;
	}
	printf("bare Avro C decode+encode: %.0f records/s\n", (double)n / best_bare);
	printf("guard + decode+encode:     %.0f records/s\n", (double)n / best_guarded);
	printf("guard alone:               %.0f records/s\n", (double)n / best_guard_only);
	printf("ratio (guarded/bare throughput): %.3f\n", best_bare / best_guarded);
	printf("guard overhead: %.1f%%\n", (best_guarded - best_bare) / best_bare * 100.0);
	printf("typed decode: %.0f records/s\n", (double)n / best_typed);
	printf("typed decode+encode: %.0f records/s\n", (double)n / best_typed_rt);
	printf("ratio typed decode / bare Avro C decode+encode: %.2f\n", best_bare / best_typed);
	printf("ratio typed decode+encode / bare Avro C decode+encode: %.2f\n",
	       best_bare / best_typed_rt);

	cps_buf_release(&tout);
	cps_arena_release(&arena);
	cps_record_schema_free(rs);
	avro_reader_free(reader);
	avro_writer_free(writer);
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
	free(c.data);
	free(c.off);
	return 0;
}
