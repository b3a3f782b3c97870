/*
 * The ingest message path without Kafka: N realistic person messages in
 * single-object framing (as the province sends them) through
 * cps_ingest_message_encode as far as the encoded IngestEvent, the JSON way
 * (Avro C decode, Avro JSON, validate, re-encode: the path before the typed
 * decoder) and the typed way (decode once, validate typed, payload as
 * received), rounds alternating, best of each. CPU time of this thread.
 *
 * Then the worker's side of the same events: cps_ingest_event_decode, the
 * IngestEvent to its record as Avro JSON.
 *
 *   bench_ingest [N=100000] [ROUNDS=5] [MODE=both|json|typed|decode]
 * (one mode alone is for callgrind: instructions per message)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/ingest_int.h"
#include "base/pii.h"
#include "codec/avro_json.h"
#include "codec/codec.h"

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "bench_ingest: %s: %s\n", what, err);
	exit(1);
}

/* Synthetic, obviously fake people of realistic shape, framed. */
static void make_messages(struct cps_catalog *catalog, size_t n, struct cps_buf *bufs)
{
	static const char *const genders[] = {"MALE", "FEMALE"};
	char err[CPS_ERRSTR_SIZE], id[19], text[1024];
	struct cps_codec *c = NULL;

	if (cps_codec_for_entity(catalog, "person", &c, err, sizeof(err)) != CPS_OK)
		die("codec", err);
	for (size_t i = 0; i < n; i++) {
		json_error_t jerr;
		json_t *j;

		if (cps_national_id_make(i % 5 ? "440305" : "441521", 1940 + (int)(i % 60),
		                         1 + (int)(i % 12), 1 + (int)(i % 28), (int)(i % 1000),
		                         id) != CPS_OK)
			die("national id", "make");
		snprintf(
		    text, sizeof(text),
		    "{\"national_id\":\"%s\",\"name\":\"测试人员%zu\",\"gender\":\"%s\","
		    "\"birth_date\":%d,\"registration_region_code\":\"%s\","
		    "\"residence_region_code\":\"440305\",\"residence_address\":%s,"
		    "\"has_residence_permit\":%s,\"disabled\":%s,\"disability_grade\":%s,"
		    "\"seriously_ill\":false,\"labour_capacity\":\"FULL\",\"phone\":"
		    "{\"string\":\"1380000%04zu\"},\"household_id\":{\"string\":"
		    "\"HH-440305-%09zu\"},\"deceased\":false}",
		    id, i, genders[i % 2], (int)(-7000 + i % 20000), i % 5 ? "440305" : "441521",
		    i % 4 ? "{\"string\":\"南山区测试街道88号\"}" : "null",
		    i % 3 ? "true" : "false", i % 17 ? "false" : "true",
		    i % 17 ? "null" : "{\"cpsync.DisabilityGrade\":\"GRADE_2\"}", i % 10000, i / 3);
		j = json_loads(text, 0, &jerr);
		if (!j)
			die("JSON", jerr.text);
		avro_value_reset(cps_codec_value(c));
		if (cps_value_from_json(j, cps_codec_value(c), err, sizeof(err)) != CPS_OK)
			die("from JSON", err);
		json_decref(j);
		cps_buf_init(&bufs[i], 0);
		if (cps_codec_encode_framed(c, CPS_FRAMING_SINGLE_OBJECT, 0, cps_codec_value(c),
		                            &bufs[i], err, sizeof(err)) != CPS_OK)
			die("encode", err);
	}
	cps_codec_free(c);
}

/* One pass over the messages; the CPU seconds it took. */
static double pass(struct cps_ingest *r, const struct cps_buf *bufs, size_t n, size_t *bytes)
{
	struct cps_source_msg m;
	char err[CPS_ERRSTR_SIZE];
	double t0 = cpu_now();

	memset(&m, 0, sizeof(m));
	m.entity = "person";
	m.source_ts_ms = 1700000000000;
	snprintf(m.pos.stream, sizeof(m.pos.stream), "province.person");
	snprintf(m.origin, sizeof(m.origin), "province:province.person/0@0");
	*bytes = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t effective;
		bool accepted;

		m.value = bufs[i].data;
		m.value_len = bufs[i].len;
		if (cps_ingest_message_encode(r, &m, 1700000000000, &accepted, &effective, err,
		                              sizeof(err)) != CPS_OK)
			die("message", err);
		if (!accepted)
			die("message", r->dead.text[r->dead.n - 1].reason);
		*bytes += r->value.len;
	}
	return cpu_now() - t0;
}

/* The encoded IngestEvents of one pass, for the worker's side. */
static struct cps_buf *events_of(struct cps_ingest *r, const struct cps_buf *bufs, size_t n)
{
	struct cps_buf *ev = calloc(n, sizeof(*ev));
	struct cps_source_msg m;
	char err[CPS_ERRSTR_SIZE];

	memset(&m, 0, sizeof(m));
	m.entity = "person";
	m.source_ts_ms = 1700000000000;
	snprintf(m.origin, sizeof(m.origin), "province:province.person/0@0");
	for (size_t i = 0; ev && i < n; i++) {
		int64_t effective;
		bool accepted;

		m.value = bufs[i].data;
		m.value_len = bufs[i].len;
		if (cps_ingest_message_encode(r, &m, 1700000000000, &accepted, &effective, err,
		                              sizeof(err)) != CPS_OK ||
		    !accepted)
			die("message", err);
		cps_buf_init(&ev[i], 0);
		if (cps_buf_append(&ev[i], r->value.data, r->value.len))
			die("events", "out of memory");
	}
	return ev;
}

/* The worker's decode of every event; CPU seconds. */
static double decode_pass(struct cps_event_codec *ec, const struct cps_buf *ev, size_t n)
{
	char err[CPS_ERRSTR_SIZE];
	double t0 = cpu_now();

	for (size_t i = 0; i < n; i++) {
		struct cps_ingest_event out;

		if (cps_ingest_event_decode(ec, ev[i].data, ev[i].len, &out, err, sizeof(err)) !=
		    CPS_OK)
			die("decode", err);
		cps_ingest_event_release(&out);
	}
	return cpu_now() - t0;
}

static struct cps_ingest *runner(struct cps_catalog *catalog, bool json_path)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_ingest *r =
	    cps_ingest_alloc("province", CPS_FRAMING_SINGLE_OBJECT, catalog, NULL);

	if (!r || cps_ingest_codecs_open(r, err, sizeof(err)) != CPS_OK)
		die("runner", r ? err : "out of memory");
	r->json_path = json_path;
	return r;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	const char *mode = argc > 3 ? argv[3] : "both";
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	bool do_decode = !strcmp(mode, "both") || !strcmp(mode, "decode");
	bool do_json = !strcmp(mode, "both") || !strcmp(mode, "json");
	bool do_typed = !strcmp(mode, "both") || !strcmp(mode, "typed");
	double best_decode = 1e9;
	struct cps_event_codec *ec = NULL;
	struct cps_buf *events;
	double best_json = 1e9, best_typed = 1e9;
	size_t bytes_json = 0, bytes_typed = 0;
	struct cps_catalog *catalog = NULL;
	struct cps_ingest *json, *typed;
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf *bufs;

	if (n == 0 || rounds < 1)
		die("usage", "bench_ingest [N] [ROUNDS] [both|json|typed]");
	if (cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &catalog, err,
	                         sizeof(err)) != CPS_OK)
		die("catalog", err);
	bufs = calloc(n, sizeof(*bufs));
	if (!bufs)
		die("messages", "out of memory");
	make_messages(catalog, n, bufs);
	json = runner(catalog, true);
	typed = runner(catalog, false);
	for (int round = 0; round < rounds; round++) {
		double t;

		if (do_json && (t = pass(json, bufs, n, &bytes_json)) < best_json)
			best_json = t;
		if (do_typed && (t = pass(typed, bufs, n, &bytes_typed)) < best_typed)
			best_typed = t;
	}
	printf("ingest path, %zu person messages (single-object), best of %d rounds:\n", n, rounds);
	if (do_json)
		printf("  JSON way (Avro C decode, to JSON, validate, re-encode): %.0f messages/s "
		       "(%.2f us each, %zu event bytes)\n",
		       (double)n / best_json, best_json * 1e6 / (double)n, bytes_json);
	if (do_typed)
		printf("  typed way (decode once, validate typed, payload as received): %.0f "
		       "messages/s (%.2f us each, %zu event bytes)\n",
		       (double)n / best_typed, best_typed * 1e6 / (double)n, bytes_typed);
	if (do_json && do_typed)
		printf("  ratio typed / JSON throughput: %.2f\n", best_json / best_typed);
	if (do_decode) {
		events = events_of(typed, bufs, n);
		if (cps_event_codec_new(catalog, &ec, err, sizeof(err)) != CPS_OK)
			die("event codec", err);
		for (int round = 0; round < rounds; round++) {
			double t = decode_pass(ec, events, n);

			if (t < best_decode)
				best_decode = t;
		}
		printf("  worker decode (IngestEvent to its record as Avro JSON): %.0f events/s "
		       "(%.2f us each)\n",
		       (double)n / best_decode, best_decode * 1e6 / (double)n);
		for (size_t i = 0; i < n; i++)
			cps_buf_release(&events[i]);
		free(events);
		cps_event_codec_free(ec);
	}
	cps_ingest_runner_free(json);
	cps_ingest_runner_free(typed);
	for (size_t i = 0; i < n; i++)
		cps_buf_release(&bufs[i]);
	free(bufs);
	cps_catalog_free(catalog);
	return 0;
}
