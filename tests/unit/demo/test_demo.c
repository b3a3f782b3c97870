/*
 * The demo data generator (demo.c): 500 people produced to an embedded
 * broker and consumed back — every message decodes with its entity schema
 * in its platform's framing, every national ID is valid, every platform
 * produced its entity kinds, city and province disagree where they should;
 * the same seed gives the same messages; 3000 people fit the broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/avro_json.h"
#include "kafka/broker.h"
#include "codec/codec.h"
#include "base/common.h"
#include "demo/demo.h"
#include "base/pii.h"
#include "codec/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PARTITIONS 4
#define PEOPLE     500
#define MIB        ((size_t)1 << 20)

static struct cps_catalog *catalog;

/* Which entity kinds each platform publishes (and has topics for). */
static const bool publishes[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES] = {
    {true, true, true, false, true},   /* province: no verifications */
    {true, true, true, true, false},   /* city: no alerts */
    {true, true, true, false, false}}; /* shenshan */

static int load_catalog(void **state)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	char err[CPS_ERRSTR_SIZE];

	if (!dir)
		dir = CPSYNC_SOURCE_DIR "/schemas";
	if (cps_catalog_load_dir(dir, &catalog, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		return -1;
	}
	return 0;
}

static struct cps_broker *broker;

static int free_catalog(void **state)
{
	cps_broker_stop(broker);
	cps_catalog_free(catalog);
	return 0;
}

/* ---- the generator alone ------------------------------------------------- */

struct collected {
	json_t *lines; /* "platform|entity|key|eff|record" strings */
	size_t max;
};

static int collect(void *arg, const struct cps_demo_msg *m)
{
	struct collected *c = arg;
	char *rec, *line = NULL;

	assert_true(publishes[m->platform][m->entity]);
	rec = m->record ? json_dumps(m->record, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	assert_true(asprintf(&line, "%d|%d|%s|%lld|%s", m->platform, m->entity, m->key,
	                     (long long)m->effective_ms, rec ? rec : "DELETE") > 0);
	json_array_append_new(c->lines, json_string(line));
	free(line);
	free(rec);
	return json_array_size(c->lines) >= c->max ? 1 : 0;
}

static json_t *first_messages(uint64_t seed, size_t n_initial, size_t n_changes)
{
	struct cps_demo_conf conf = {.people = PEOPLE, .seed = seed};
	struct cps_demo_gen *g;
	struct collected c = {json_array(), n_initial};
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_demo_gen_new(&conf, &g, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_demo_gen_initial(g, collect, &c), 1);
	c.max = (size_t)-1;
	for (size_t i = 0; i < n_changes; i++)
		assert_int_equal(
		    cps_demo_gen_change(g, 1767225600000LL + (int64_t)i * 50, collect, &c), 0);
	cps_demo_gen_free(g);
	return c.lines;
}

static void test_generator_deterministic(void **state)
{
	json_t *a = first_messages(42, 50, 300), *b = first_messages(42, 50, 300);
	json_t *other = first_messages(43, 50, 0);

	assert_true(json_array_size(a) > 50 + 250);
	assert_true(json_equal(a, b));
	assert_false(json_equal(json_array_get(a, 0), json_array_get(other, 0)));
	json_decref(a);
	json_decref(b);
	json_decref(other);
}

/* Sums the encoded bytes per (platform, entity) topic. */
struct sizes {
	struct cps_codec *codecs[CPS_DEMO_ENTITIES];
	struct cps_buf buf;
	size_t bytes[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES];
	size_t total, messages;
};

static int measure(void *arg, const struct cps_demo_msg *m)
{
	struct sizes *s = arg;
	struct cps_codec *c = s->codecs[m->entity];
	char err[CPS_ERRSTR_SIZE];

	cps_buf_reset(&s->buf);
	if (m->record) {
		if (cps_value_from_json(m->record, cps_codec_value(c), err, sizeof(err)) !=
		        CPS_OK ||
		    cps_codec_encode_framed(c, CPS_FRAMING_SINGLE_OBJECT, 0, cps_codec_value(c),
		                            &s->buf, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "encode: %s\n", err);
			return -1;
		}
	}
	s->bytes[m->platform][m->entity] += s->buf.len + strlen(m->key) + 32;
	s->total += s->buf.len + strlen(m->key) + 32;
	s->messages++;
	return 0;
}

static void test_default_load_fits_the_broker(void **state)
{
	struct cps_demo_conf conf = {.seed = 1}; /* people 0 = the default 3000 */
	struct cps_demo_gen *g;
	struct sizes s = {0};
	char err[CPS_ERRSTR_SIZE];
	size_t minute;

	cps_buf_init(&s.buf, 0);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		assert_int_equal(
		    cps_codec_new(cps_catalog_by_entity(catalog, cps_demo_entity_names[e]), NULL,
		                  &s.codecs[e], err, sizeof(err)),
		    CPS_OK);
	assert_int_equal(cps_demo_gen_new(&conf, &g, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_demo_gen_initial(g, measure, &s), 0);
	/* even if a topic had one partition, its initial load fits in 5 MiB */
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			assert_true(s.bytes[p][e] < 5 * MIB);
	assert_true(s.messages > 3000 * 2);
	fprintf(stderr, "demo: 3000 people = %zu messages, %zu bytes\n", s.messages, s.total);
	/* a minute of the default trickle (20/s) is far below the per-minute cap */
	s.total = 0;
	for (int i = 0; i < 20 * 60; i++)
		assert_int_equal(cps_demo_gen_change(g, 1767225600000LL + i * 50, measure, &s), 0);
	minute = s.total;
	fprintf(stderr, "demo: a minute of trickle = %zu bytes\n", minute);
	assert_true(minute < CPS_DEMO_TRICKLE_BYTES_PER_MIN);
	cps_demo_gen_free(g);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		cps_codec_free(s.codecs[e]);
	cps_buf_release(&s.buf);
}

/* ---- through the embedded broker ----------------------------------------- */

struct msg {
	int platform, entity, partition;
	char *key;
	uint8_t *value; /* NULL = tombstone */
	size_t len;
	int64_t eff;
};

struct run {
	struct msg *msgs;
	size_t n, cap;
};

static void run_release(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->msgs[i].key);
		free(r->msgs[i].value);
	}
	free(r->msgs);
}

static void topic_name(const char *prefix, int p, int e, char *out, size_t size)
{
	snprintf(out, size, "%s%s.%s", prefix, cps_demo_platform_names[p],
	         cps_demo_entity_names[e]);
}

/* Consumes every partition of every demo topic (under `prefix`) to its end. */
static void consume_all(const char *bootstrap, const char *prefix, struct run *r)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
	char why[512], topic[128];
	rd_kafka_t *rk;
	int eofs = 0, want = 0;
	time_t deadline = time(NULL) + 60;

	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, why, sizeof(why)),
	                 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test-demo", why, sizeof(why)),
	                 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "enable.partition.eof", "true", why, sizeof(why)),
	                 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof(why)),
	                 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	assert_non_null(rk);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			for (int part = 0; part < PARTITIONS && publishes[p][e]; part++) {
				topic_name(prefix, p, e, topic, sizeof(topic));
				rd_kafka_topic_partition_list_add(parts, topic, part)->offset =
				    RD_KAFKA_OFFSET_BEGINNING;
				want++;
			}
	assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(parts);
	while (eofs < want && time(NULL) < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		rd_kafka_headers_t *hdrs;
		const void *hv;
		size_t hlen;
		struct msg *x;
		const char *name;
		int p, e;

		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eofs++;
			rd_kafka_message_destroy(m);
			continue;
		}
		assert_int_equal(m->err, RD_KAFKA_RESP_ERR_NO_ERROR);
		name = rd_kafka_topic_name(m->rkt) + strlen(prefix);
		for (p = 0; p < CPS_DEMO_PLATFORMS; p++)
			if (strncmp(name, cps_demo_platform_names[p],
			            strlen(cps_demo_platform_names[p])) == 0 &&
			    name[strlen(cps_demo_platform_names[p])] == '.')
				break;
		assert_true(p < CPS_DEMO_PLATFORMS);
		name += strlen(cps_demo_platform_names[p]) + 1;
		for (e = 0; e < CPS_DEMO_ENTITIES; e++)
			if (strcmp(name, cps_demo_entity_names[e]) == 0)
				break;
		assert_true(e < CPS_DEMO_ENTITIES);
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 1024;
			r->msgs = realloc(r->msgs, r->cap * sizeof(*r->msgs));
			assert_non_null(r->msgs);
		}
		x = &r->msgs[r->n++];
		memset(x, 0, sizeof(*x));
		x->platform = p;
		x->entity = e;
		x->partition = m->partition;
		assert_non_null(m->key);
		x->key = strndup(m->key, m->key_len);
		if (m->payload) {
			x->value = malloc(m->len);
			memcpy(x->value, m->payload, m->len);
			x->len = m->len;
		}
		/* every message carries its business time as decimal milliseconds */
		assert_int_equal(rd_kafka_message_headers(m, &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
		assert_int_equal(rd_kafka_header_get_last(hdrs, "effective_time", &hv, &hlen),
		                 RD_KAFKA_RESP_ERR_NO_ERROR);
		{
			char text[32] = {0};
			char *end;

			assert_true(hlen > 0 && hlen < sizeof(text));
			memcpy(text, hv, hlen);
			x->eff = strtoll(text, &end, 10);
			assert_true(*end == 0 && x->eff > 1000000000000LL);
		}
		rd_kafka_message_destroy(m);
	}
	assert_int_equal(eofs, want);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* One broker for every test (starting and stopping one takes seconds), with
 * the demo topics under three prefixes: a run, the same seed again, the
 * trickle. Stopped by the group teardown. */
static const char *const prefixes[] = {"", "again.", "trickle."};

static struct cps_broker *start_broker(void)
{
	const char *topics[3 * CPS_DEMO_PLATFORMS * CPS_DEMO_ENTITIES];
	char names[3 * CPS_DEMO_PLATFORMS * CPS_DEMO_ENTITIES][64];
	char err[CPS_ERRSTR_SIZE];
	size_t n = 0;

	if (broker)
		return broker;
	for (int run = 0; run < 3; run++)
		for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
			for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
				if (!publishes[p][e])
					continue;
				topic_name(prefixes[run], p, e, names[n], sizeof(names[n]));
				topics[n] = names[n];
				n++;
			}
	assert_int_equal(cps_broker_start(PARTITIONS, topics, n, &broker, err, sizeof(err)),
	                 CPS_OK);
	return broker;
}

static void run_demo(const char *bootstrap, const char *prefix, uint64_t seed, size_t people,
                     unsigned trickle, int trickle_ms, struct run *r)
{
	struct cps_demo_conf conf = {.bootstrap = bootstrap,
	                             .catalog = catalog,
	                             .people = people,
	                             .seed = seed,
	                             .trickle_per_s = trickle,
	                             .no_trickle = trickle == 0};
	char names[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES][64];
	struct cps_demo_stats st;
	struct cps_demo *d;
	char err[CPS_ERRSTR_SIZE];
	uint64_t delivered = 0;

	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
			topic_name(prefix, p, e, names[p][e], sizeof(names[p][e]));
			conf.topics[p][e] = names[p][e];
		}
	assert_int_equal(cps_demo_start(&conf, &d, err, sizeof(err)), CPS_OK);
	if (cps_demo_wait_loaded(d, 60000, err, sizeof(err)) != CPS_OK)
		fail_msg("%s", err);
	cps_demo_get_stats(d, &st);
	assert_true(st.loaded);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++) {
		assert_int_equal(st.failed[p], 0);
		assert_true(st.delivered[p] > 0);
		if (!trickle)
			assert_int_equal(st.delivered[p], st.produced[p]);
		delivered += st.delivered[p];
	}
	if (trickle_ms) {
		usleep((useconds_t)trickle_ms * 1000);
		cps_demo_get_stats(d, &st);
		assert_true(st.changes > 0);
		assert_true(st.bytes > 0);
		assert_string_equal(st.last_error, "");
	}
	cps_demo_stop(d); /* flushes what was produced */
	consume_all(bootstrap, prefix, r);
	if (!trickle)
		assert_int_equal(r->n, delivered);
	else
		assert_true(r->n > delivered);
}

/* Avro bytes decimal (JSON code points) to fen. */
static int64_t decimal_fen(json_t *j)
{
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);
	int64_t v = 0;
	bool first = true;

	assert_non_null(s);
	for (size_t i = 0; i < len;) {
		unsigned c = (uint8_t)s[i];

		if (c >= 0x80) {
			c = ((c & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
			i += 2;
		} else {
			i++;
		}
		if (first && (c & 0x80))
			v = -1;
		first = false;
		v = (int64_t)((uint64_t)v << 8) | c;
	}
	return v;
}

static void check_id(const char *id)
{
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(id);
	if (cps_national_id_validate(id, err, sizeof(err)) != CPS_OK)
		fail_msg("invalid national ID: %s", err);
}

static const char *opt_string(json_t *rec, const char *field, const char *branch)
{
	json_t *v = json_object_get(rec, field);

	return json_is_object(v) ? json_string_value(json_object_get(v, branch)) : NULL;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

struct findings {
	size_t kinds[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES];
	size_t deletes, contact_diffs, grade_diffs, income_diffs, gradual_exits, pensions;
	size_t pensions_counted; /* the demo's deliberate breach (PENSION_COUNTED_X10) */
	size_t programmes[6], below_standard, above_standard;
};

/* Decodes every message with its entity codec and checks what it says. */
static void check_run(struct run *r, struct findings *f)
{
	static const enum cps_framing framing[CPS_DEMO_PLATFORMS] = {
	    CPS_FRAMING_SINGLE_OBJECT, CPS_FRAMING_CONFLUENT, CPS_FRAMING_SINGLE_OBJECT};
	static const char *const programmes[] = {"DIBAO",
	                                         "TEKUN_SUPPORT",
	                                         "DIBAO_EDGE",
	                                         "TEMPORARY_ASSISTANCE",
	                                         "SINGLE_PERSON_DIBAO",
	                                         "SPECIAL_ASSISTANCE"};
	struct cps_registry_conf rconf = {0};
	struct cps_registry *reg;
	struct cps_codec *codecs[CPS_DEMO_ENTITIES];
	json_t *first_seen = json_object(); /* "<platform>/<entity>/<key>" -> record */
	char err[CPS_ERRSTR_SIZE];

	memset(f, 0, sizeof(*f));
	assert_int_equal(cps_registry_new(&rconf, catalog, &reg, err, sizeof(err)), CPS_OK);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		assert_int_equal(
		    cps_codec_new(cps_catalog_by_entity(catalog, cps_demo_entity_names[e]), NULL,
		                  &codecs[e], err, sizeof(err)),
		    CPS_OK);
	for (size_t i = 0; i < r->n; i++) {
		struct msg *m = &r->msgs[i];
		struct cps_codec *c = codecs[m->entity];
		const char *keyf[] = {"national_id", "household_id", "enrolment_id",
		                      "verification_id", "alert_id"};
		char slot[160];
		json_t *rec;

		f->kinds[m->platform][m->entity]++;
		if (!m->value) {
			f->deletes++;
			continue;
		}
		if (cps_codec_decode_framed(c, framing[m->platform], catalog, reg, m->value, m->len,
		                            err, sizeof(err)) != CPS_OK)
			fail_msg("%s %s: %s", cps_demo_platform_names[m->platform],
			         cps_demo_entity_names[m->entity], err);
		rec = cps_value_to_json(cps_codec_value(c), err, sizeof(err));
		assert_non_null(rec);
		assert_string_equal(json_string_value(json_object_get(rec, keyf[m->entity])),
		                    m->key);
		switch (m->entity) {
		case CPS_DEMO_PERSON: {
			const char *id = m->key;
			int y = atoi((char[5]){id[6], id[7], id[8], id[9], 0});

			check_id(id);
			assert_true(y >= 1935 && y <= 2015);
			assert_string_equal(json_string_value(json_object_get(rec, "gender")),
			                    (id[16] - '0') % 2 ? "MALE" : "FEMALE");
			if (m->platform == CPS_DEMO_SHENSHAN)
				assert_memory_equal(id, "441521", 6);
			else if (m->platform == CPS_DEMO_CITY)
				assert_true(strncmp(id, "440303", 6) >= 0 &&
				            strncmp(id, "440311", 6) <= 0);
			assert_true(json_string_length(json_object_get(rec, "name")) >= 6);
			break;
		}
		case CPS_DEMO_HOUSEHOLD: {
			json_t *mem;
			size_t k;
			int64_t pc = decimal_fen(json_object_get(rec, "per_capita_monthly_income"));

			check_id(json_string_value(json_object_get(rec, "head_national_id")));
			json_array_foreach (json_object_get(rec, "members"), k, mem)
				check_id(json_string_value(json_object_get(mem, "national_id")));
			assert_int_equal(json_array_size(json_object_get(rec, "members")),
			                 json_integer_value(json_object_get(rec, "member_count")));
			assert_true(json_integer_value(json_object_get(rec, "member_count")) <= 6);
			assert_true(pc >= 0);
			if (pc < CPS_DEMO_DIBAO_STANDARD_FEN)
				f->below_standard++;
			else
				f->above_standard++;
			break;
		}
		case CPS_DEMO_ENROLMENT: {
			const char *prog = json_string_value(json_object_get(rec, "programme"));

			if (strcmp(json_string_value(json_object_get(rec, "subject_type")),
			           "PERSON") == 0)
				check_id(json_string_value(json_object_get(rec, "subject_id")));
			for (size_t k = 0; k < 6; k++)
				if (strcmp(prog, programmes[k]) == 0)
					f->programmes[k]++;
			if (strcmp(prog, "TEKUN_SUPPORT") == 0)
				assert_true(decimal_fen(json_object_get(rec, "monthly_amount")) >=
				            CPS_DEMO_DIBAO_STANDARD_FEN * 16 / 10);
			if (strcmp(json_string_value(json_object_get(rec, "status")),
			           "GRADUAL_EXIT") == 0) {
				json_int_t s = json_integer_value(json_object_get(
				    json_object_get(rec, "gradual_exit_start_date"), "int"));
				json_int_t e = json_integer_value(json_object_get(
				    json_object_get(rec, "gradual_exit_end_date"), "int"));

				assert_true(e - s >= 179 && e - s <= 183); /* six months */
				f->gradual_exits++;
			}
			if (m->platform == CPS_DEMO_SHENSHAN)
				assert_string_equal(
				    json_string_value(json_object_get(rec, "granting_region_code")),
				    "441521");
			break;
		}
		case CPS_DEMO_VERIFICATION: {
			json_t *item;
			size_t k;

			json_array_foreach (json_object_get(rec, "items"), k, item) {
				const char *id = opt_string(item, "member_national_id", "string");

				if (id)
					check_id(id);
				if (strcmp(json_string_value(json_object_get(item, "kind")),
				           "BASIC_PENSION") == 0) {
					f->pensions_counted +=
					    json_is_true(json_object_get(item, "counted"));
					f->pensions++;
				}
			}
			break;
		}
		case CPS_DEMO_ALERT:
			if (strcmp(json_string_value(json_object_get(rec, "subject_type")),
			           "PERSON") == 0)
				check_id(json_string_value(json_object_get(rec, "subject_id")));
			break;
		}
		snprintf(slot, sizeof(slot), "%d/%d/%s", m->platform, m->entity, m->key);
		if (!json_object_get(first_seen, slot))
			json_object_set(first_seen, slot, rec);
		json_decref(rec);
	}
	/* city against province, first statement of each */
	{
		const char *slot;
		json_t *city;

		json_object_foreach (first_seen, slot, city) {
			char other[160];
			json_t *prov;
			int p, e;

			if (sscanf(slot, "%d/%d/", &p, &e) != 2 || p != CPS_DEMO_CITY)
				continue;
			snprintf(other, sizeof(other), "%d/%s", CPS_DEMO_PROVINCE,
			         strchr(slot, '/') + 1);
			prov = json_object_get(first_seen, other);
			if (!prov)
				continue;
			if (e == CPS_DEMO_PERSON) {
				if (!same(opt_string(city, "residence_address", "string"),
				          opt_string(prov, "residence_address", "string")) ||
				    !same(opt_string(city, "phone", "string"),
				          opt_string(prov, "phone", "string")))
					f->contact_diffs++;
				if (!json_equal(json_object_get(city, "disability_grade"),
				                json_object_get(prov, "disability_grade")))
					f->grade_diffs++;
			} else if (e == CPS_DEMO_HOUSEHOLD) {
				if (!json_equal(json_object_get(city, "per_capita_monthly_income"),
				                json_object_get(prov, "per_capita_monthly_income")))
					f->income_diffs++;
			}
		}
	}
	json_decref(first_seen);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		cps_codec_free(codecs[e]);
	cps_registry_free(reg);
}

static void test_demo_through_the_broker(void **state)
{
	struct cps_broker *b = start_broker();
	struct run a = {0}, again = {0};
	struct findings f;
	size_t compared = 0;

	run_demo(cps_broker_bootstrap(b), "", 7, PEOPLE, 0, 0, &a);
	check_run(&a, &f);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			if (publishes[p][e])
				assert_true(f.kinds[p][e] > 0);
			else
				assert_int_equal(f.kinds[p][e], 0);
	assert_int_equal(f.kinds[CPS_DEMO_PROVINCE][CPS_DEMO_PERSON], PEOPLE);
	assert_int_equal(f.kinds[CPS_DEMO_CITY][CPS_DEMO_PERSON] +
	                     f.kinds[CPS_DEMO_SHENSHAN][CPS_DEMO_PERSON],
	                 PEOPLE);
	fprintf(stderr,
	        "demo: %zu messages; disagreements: contact %zu, disability grade %zu, income %zu; "
	        "gradual exits %zu; programmes %zu %zu %zu %zu %zu\n",
	        a.n, f.contact_diffs, f.grade_diffs, f.income_diffs, f.gradual_exits,
	        f.programmes[0], f.programmes[1], f.programmes[2], f.programmes[3],
	        f.programmes[4]);
	/* genuine disagreements, in plausible proportions */
	assert_true(f.contact_diffs > 0 && f.contact_diffs < PEOPLE / 5);
	assert_true(f.grade_diffs > 0 && f.grade_diffs < PEOPLE / 10);
	assert_true(f.income_diffs > 0);
	assert_true(f.gradual_exits > 0 && f.pensions > 0);
	/* the basic pension is not income (深民〔2021〕80号) but for a few breaches */
	assert_true(f.pensions_counted * 10 < f.pensions);
	assert_true(f.programmes[0] > 0 && f.programmes[1] > 0 && f.programmes[2] > 0 &&
	            f.programmes[3] > 0);
	assert_true(f.below_standard > 0 && f.above_standard > 0);

	/* the same seed again, to other topics: the same messages in each partition */
	run_demo(cps_broker_bootstrap(b), "again.", 7, PEOPLE, 0, 0, &again);
	assert_int_equal(again.n, a.n);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			for (int part = 0; part < PARTITIONS; part++) {
				size_t i = 0, j = 0;

				for (int k = 0; k < 50; k++, i++, j++) {
					while (i < a.n &&
					       (a.msgs[i].platform != p || a.msgs[i].entity != e ||
					        a.msgs[i].partition != part))
						i++;
					while (j < again.n && (again.msgs[j].platform != p ||
					                       again.msgs[j].entity != e ||
					                       again.msgs[j].partition != part))
						j++;
					assert_int_equal(i < a.n, j < again.n);
					if (i >= a.n)
						break;
					assert_string_equal(a.msgs[i].key, again.msgs[j].key);
					assert_int_equal(a.msgs[i].eff, again.msgs[j].eff);
					assert_int_equal(a.msgs[i].len, again.msgs[j].len);
					if (a.msgs[i].len)
						assert_memory_equal(a.msgs[i].value,
						                    again.msgs[j].value,
						                    a.msgs[i].len);
					compared++;
				}
			}
	assert_true(compared >= 500);
	run_release(&a);
	run_release(&again);
}

/* The trickle: changes flow after the initial load, deletes are tombstones,
 * everything still decodes and validates. */
static void test_demo_trickle(void **state)
{
	struct cps_broker *b = start_broker();
	struct run r = {0};
	struct findings f;
	size_t initial;

	/* the initial load alone, to know its size */
	{
		struct cps_demo_conf conf = {.people = 100, .seed = 99};
		struct cps_demo_gen *g;
		struct collected c = {json_array(), (size_t)-1};
		char err[CPS_ERRSTR_SIZE];

		assert_int_equal(cps_demo_gen_new(&conf, &g, err, sizeof(err)), CPS_OK);
		assert_int_equal(cps_demo_gen_initial(g, collect, &c), 0);
		initial = json_array_size(c.lines);
		json_decref(c.lines);
		cps_demo_gen_free(g);
	}
	run_demo(cps_broker_bootstrap(b), "trickle.", 99, 100, 400, 1500, &r);
	check_run(&r, &f);
	fprintf(stderr, "demo: %zu initial messages, %zu in all, %zu deletes\n", initial, r.n,
	        f.deletes);
	assert_true(r.n > initial + 100); /* 400 changes a second for 1.5 s */
	run_release(&r);
}

static void test_bad_conf(void **state)
{
	struct cps_demo_conf conf = {.bootstrap = "127.0.0.1:1", .catalog = catalog};
	struct cps_demo *d = NULL;
	char err[CPS_ERRSTR_SIZE];

	conf.framing[CPS_DEMO_CITY] = "avro-json";
	assert_int_equal(cps_demo_start(&conf, &d, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "demo: unknown framing 'avro-json' for city");
	assert_null(d);
	conf.framing[CPS_DEMO_CITY] = NULL;
	conf.catalog = NULL;
	assert_int_equal(cps_demo_start(&conf, &d, err, sizeof(err)), CPS_ERR_INVALID);
	cps_demo_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generator_deterministic),
	    cmocka_unit_test(test_default_load_fits_the_broker),
	    cmocka_unit_test(test_demo_through_the_broker),
	    cmocka_unit_test(test_demo_trickle),
	    cmocka_unit_test(test_bad_conf),
	};

	return cmocka_run_group_tests(tests, load_catalog, free_catalog);
}
