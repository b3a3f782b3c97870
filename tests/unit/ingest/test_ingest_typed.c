/*
 * The typed ingest path against today's JSON round trip, without Kafka: each
 * message goes through cps_ingest_message_encode of two runners, one forced
 * the JSON way (json_path), and both must agree — the same IngestEvent (the
 * typed one carrying the body as received) or the same dead-letter reason;
 * the worker's decode keeps a record's bytes, which read as the same record.
 * Cases: valid records of three entities and framings, each validation rule,
 * bytes without a JSON form, hostile bytes, and 3,000 seeded mutations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingest/ingest_int.h"
#include "base/pii.h"
#include "codec/avro_json.h"
#include "codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	struct cps_catalog *catalog;
	struct cps_ingest *typed, *json;         /* single-object framing */
	struct cps_ingest *typed_raw, *json_raw; /* raw framing */
	char id[19], id2[19];
};

static struct cps_ingest *runner(struct cps_catalog *c, enum cps_framing framing, bool json_path)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_ingest *r = cps_ingest_alloc("province", framing, c, NULL);

	assert_non_null(r);
	if (cps_ingest_codecs_open(r, err, sizeof(err)) != CPS_OK)
		fail_msg("codecs: %s", err);
	r->json_path = json_path;
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[CPS_ERRSTR_SIZE];

	if (!f || cps_catalog_load_dir(getenv("CPSYNC_SCHEMA_DIR"), &f->catalog, err,
	                               sizeof(err)) != CPS_OK)
		return -1;
	f->typed = runner(f->catalog, CPS_FRAMING_SINGLE_OBJECT, false);
	f->json = runner(f->catalog, CPS_FRAMING_SINGLE_OBJECT, true);
	f->typed_raw = runner(f->catalog, CPS_FRAMING_RAW, false);
	f->json_raw = runner(f->catalog, CPS_FRAMING_RAW, true);
	if (cps_national_id_make("440305", 1990, 1, 1, 123, f->id) != CPS_OK ||
	    cps_national_id_make("441521", 1985, 6, 30, 64, f->id2) != CPS_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cps_ingest_runner_free(f->typed);
	cps_ingest_runner_free(f->json);
	cps_ingest_runner_free(f->typed_raw);
	cps_ingest_runner_free(f->json_raw);
	cps_catalog_free(f->catalog);
	free(f);
	return 0;
}

/* The Avro binary (framed as `framing`) of Avro JSON text `text`. */
static void encode_json(struct fixture *f, const char *entity, enum cps_framing framing,
                        const char *text, struct cps_buf *out)
{
	struct cps_codec *c = NULL;
	char err[CPS_ERRSTR_SIZE];
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);

	if (!j)
		fail_msg("bad test JSON: %s", jerr.text);
	assert_int_equal(cps_codec_for_entity(f->catalog, entity, &c, err, sizeof(err)), CPS_OK);
	avro_value_reset(cps_codec_value(c));
	if (cps_value_from_json(j, cps_codec_value(c), err, sizeof(err)) != CPS_OK)
		fail_msg("from JSON: %s", err);
	cps_buf_reset(out);
	assert_int_equal(
	    cps_codec_encode_framed(c, framing, 0, cps_codec_value(c), out, err, sizeof(err)),
	    CPS_OK);
	json_decref(j);
	cps_codec_free(c);
}

static void person_json(char *out, size_t size, const char *id, const char *name,
                        const char *region)
{
	snprintf(out, size,
	         "{\"national_id\":\"%s\",\"name\":\"%s\",\"gender\":\"MALE\","
	         "\"birth_date\":7305,\"registration_region_code\":\"%s\","
	         "\"residence_region_code\":\"440305\",\"residence_address\":{\"string\":"
	         "\"Nanshan 1\"},\"has_residence_permit\":true,\"disabled\":false,"
	         "\"disability_grade\":null,\"seriously_ill\":false,\"labour_capacity\":\"FULL\","
	         "\"phone\":null,\"household_id\":{\"string\":\"H1\"},\"deceased\":false}",
	         id, name, region);
}

/* What one runner made of a message. */
struct outcome {
	bool accepted;
	char reason[CPS_ERRSTR_SIZE];
	struct cps_buf key, value;
	size_t arena_used;
};

static void run(struct cps_ingest *r, const char *entity, const void *value, size_t len,
                const struct cps_header *h, size_t nh, struct outcome *o)
{
	struct cps_source_msg m;
	char err[CPS_ERRSTR_SIZE];
	int64_t effective = 0;

	memset(&m, 0, sizeof(m));
	m.entity = entity;
	m.value = value;
	m.value_len = len;
	m.source_ts_ms = 1700000000000;
	m.headers = h;
	m.n_headers = nh;
	snprintf(m.pos.stream, sizeof(m.pos.stream), "province.%s", entity);
	snprintf(m.origin, sizeof(m.origin), "province:t/0@1");
	cps_deadletters_reset(&r->dead);
	cps_arena_reset(&r->arena);
	if (cps_ingest_message_encode(r, &m, 1800000000000, &o->accepted, &effective, err,
	                              sizeof(err)) != CPS_OK)
		fail_msg("batch error: %s", err);
	o->arena_used = cps_arena_used(&r->arena);
	o->reason[0] = '\0';
	if (!o->accepted) {
		assert_int_equal(r->dead.n, 1);
		snprintf(o->reason, sizeof(o->reason), "%s", r->dead.text[0].reason);
	}
	cps_buf_init(&o->key, 0);
	cps_buf_init(&o->value, 0);
	cps_buf_append(&o->key, r->key.data, r->key.len);
	cps_buf_append(&o->value, r->value.data, r->value.len);
}

static void outcome_release(struct outcome *o)
{
	cps_buf_release(&o->key);
	cps_buf_release(&o->value);
}

/* Both ways agree on one message: the same event (decoded) or the same
 * reason. Returns whether it was accepted; `reason` gets the reason. */
static bool agree(struct cps_ingest *typed, struct cps_ingest *json, const char *entity,
                  const void *value, size_t len, const struct cps_header *h, size_t nh,
                  char *reason, size_t reason_size)
{
	struct outcome a, b;
	struct cps_ingest_event ea, eb;
	char err[CPS_ERRSTR_SIZE];
	bool accepted;

	run(typed, entity, value, len, h, nh, &a);
	run(json, entity, value, len, h, nh, &b);
	assert_int_equal(b.arena_used, 0);
	if (a.accepted != b.accepted || strcmp(a.reason, b.reason) != 0)
		fail_msg("typed: %s '%s'; json: %s '%s'", a.accepted ? "accepted" : "dead",
		         a.reason, b.accepted ? "accepted" : "dead", b.reason);
	accepted = a.accepted;
	if (accepted) {
		assert_int_equal(a.key.len, b.key.len);
		assert_memory_equal(a.key.data, b.key.data, a.key.len);
		assert_int_equal(cps_ingest_event_decode(typed->events, a.value.data, a.value.len,
		                                         &ea, err, sizeof(err)),
		                 CPS_OK);
		assert_int_equal(cps_ingest_event_decode(json->events, b.value.data, b.value.len,
		                                         &eb, err, sizeof(err)),
		                 CPS_OK);
		assert_string_equal(ea.key, eb.key);
		assert_int_equal(ea.effective_ms, eb.effective_ms);
		assert_int_equal(ea.source_ms, eb.source_ms);
		assert_int_equal(ea.op, eb.op);
		assert_true(json_equal(ea.record, eb.record));
		cps_ingest_event_release(&ea);
		/* the worker's decode keeps the record's bytes, which read as the same */
		assert_int_equal(cps_ingest_event_decode_bytes(typed->events, a.value.data,
		                                               a.value.len, &ea, err, sizeof(err)),
		                 CPS_OK);
		assert_true(ea.op == CPS_OP_DELETE || (ea.record_bytes && !ea.record));
		assert_int_equal(cps_ingest_event_record(typed->events, &ea, err, sizeof(err)),
		                 CPS_OK);
		assert_true(json_equal(ea.record, eb.record));
		cps_ingest_event_release(&ea);
		cps_ingest_event_release(&eb);
	}
	if (reason)
		snprintf(reason, reason_size, "%s", a.reason);
	outcome_release(&a);
	outcome_release(&b);
	return accepted;
}

/* The typed runner took the typed way and its event's payload — the last
 * field, so the value's tail — is `body` byte for byte. */
static void assert_payload_as_received(struct cps_ingest *r, const char *entity, const void *value,
                                       size_t len, const struct cps_header *h, size_t nh,
                                       const void *body, size_t body_len)
{
	struct outcome o;

	run(r, entity, value, len, h, nh, &o);
	assert_true(o.accepted);
	assert_true(o.arena_used > 0);
	assert_true(o.value.len > body_len);
	assert_memory_equal(o.value.data + o.value.len - body_len, body, body_len);
	outcome_release(&o);
}

static void test_valid_records(void **state)
{
	struct fixture *f = *state;
	struct cps_buf buf, raw;
	char text[2048], fp[17];
	struct cps_ingest_event ev;
	char err[CPS_ERRSTR_SIZE];
	struct outcome o;

	cps_buf_init(&buf, 0);
	cps_buf_init(&raw, 0);
	person_json(text, sizeof(text), f->id, "Zhang San", "440305");
	encode_json(f, "person", CPS_FRAMING_SINGLE_OBJECT, text, &buf);
	encode_json(f, "person", CPS_FRAMING_RAW, text, &raw);
	assert_true(agree(f->typed, f->json, "person", buf.data, buf.len, NULL, 0, NULL, 0));
	assert_payload_as_received(f->typed, "person", buf.data, buf.len, NULL, 0, raw.data,
	                           raw.len);
	/* raw framing, and a raw body named by the files source's header */
	assert_true(
	    agree(f->typed_raw, f->json_raw, "person", raw.data, raw.len, NULL, 0, NULL, 0));
	assert_payload_as_received(f->typed_raw, "person", raw.data, raw.len, NULL, 0, raw.data,
	                           raw.len);
	snprintf(fp, sizeof(fp), "%016llx",
	         (unsigned long long)cps_catalog_by_entity(f->catalog, "person")->fingerprint);
	{
		struct cps_header h = {
		    .name = "cpsync-writer-fingerprint", .value = fp, .value_len = 16};

		assert_true(agree(f->typed, f->json, "person", raw.data, raw.len, &h, 1, NULL, 0));
		assert_payload_as_received(f->typed, "person", raw.data, raw.len, &h, 1, raw.data,
		                           raw.len);
	}
	/* the payload fingerprint is the current schema's, the key the record's */
	run(f->typed, "person", buf.data, buf.len, NULL, 0, &o);
	assert_int_equal(cps_ingest_event_decode(f->typed->events, o.value.data, o.value.len, &ev,
	                                         err, sizeof(err)),
	                 CPS_OK);
	assert_string_equal(ev.key, f->id);
	assert_string_equal(json_string_value(json_object_get(ev.record, "name")), "Zhang San");
	cps_ingest_event_release(&ev);
	outcome_release(&o);

	/* a verification: its business time (verified_at) is the effective time */
	snprintf(text, sizeof(text),
	         "{\"verification_id\":\"HD1\",\"household_id\":\"H1\",\"purpose\":\"REVIEW\","
	         "\"items\":[{\"kind\":\"WAGES\",\"member_national_id\":{\"string\":\"%s\"},"
	         "\"amount\":\"\\u0003\\u00e8\",\"counted\":true,\"source\":\"DECLARED\"},"
	         "{\"kind\":\"DEPOSITS\",\"member_national_id\":null,\"amount\":\"\\u0001\","
	         "\"counted\":false,\"source\":\"DECLARED\"}],"
	         "\"counted_income_total\":\"\\u0003\\u00e8\",\"employment_cost_deduction\":"
	         "\"\\u0000\",\"member_count\":2,\"per_capita_income\":\"\\u0001\\u00f4\","
	         "\"result\":\"ELIGIBLE\",\"verified_at\":1690000000000,\"valid_until\":null}",
	         f->id2);
	encode_json(f, "verification", CPS_FRAMING_SINGLE_OBJECT, text, &buf);
	assert_true(agree(f->typed, f->json, "verification", buf.data, buf.len, NULL, 0, NULL, 0));
	run(f->typed, "verification", buf.data, buf.len, NULL, 0, &o);
	assert_int_equal(cps_ingest_event_decode(f->typed->events, o.value.data, o.value.len, &ev,
	                                         err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(ev.effective_ms, 1690000000000);
	cps_ingest_event_release(&ev);
	outcome_release(&o);
	cps_buf_release(&buf);
	cps_buf_release(&raw);
}

/* A person message whose body is edited by `edit`; the reason both give. */
static void person_case(struct fixture *f, const char *id, const char *name, const char *region,
                        const char *expect)
{
	char text[2048], reason[CPS_ERRSTR_SIZE];
	struct cps_buf buf;
	uint8_t *p;

	cps_buf_init(&buf, 0);
	person_json(text, sizeof(text), id, name, region);
	encode_json(f, "person", CPS_FRAMING_SINGLE_OBJECT, text, &buf);
	/* "~~" in a text stands for bytes JSON cannot hold: invalid UTF-8 */
	while ((p = memmem(buf.data, buf.len, "~~", 2)) != NULL)
		p[0] = 0xff, p[1] = 0xc0;
	/* "^" is a NUL inside the string */
	while ((p = memchr(buf.data, '^', buf.len)) != NULL)
		*p = 0;
	agree(f->typed, f->json, "person", buf.data, buf.len, NULL, 0, reason, sizeof(reason));
	assert_string_equal(reason, expect);
	cps_buf_release(&buf);
}

static void test_rules_and_reasons(void **state)
{
	struct fixture *f = *state;
	char bad[19], nul_id[24];

	memcpy(bad, f->id, sizeof(bad));
	bad[17] = bad[17] == '0' ? '1' : '0';
	person_case(f, bad, "x", "440305",
	            "field 'person.national_id': national id check character is wrong");
	person_case(f, f->id, "x", "44030",
	            "field 'person.registration_region_code' is not a 6-digit region code");
	person_case(f, "", "x", "440305", "key field 'person.national_id' is empty");
	person_case(f, f->id, "Zh~~ang", "440305",
	            "person record has no JSON form: string at .name is not valid UTF-8");
	/* a NUL cuts the ID as jansson's C string does: the key is the ID */
	snprintf(nul_id, sizeof(nul_id), "%s^abc", f->id);
	person_case(f, nul_id, "x", "440305", "");
	snprintf(nul_id, sizeof(nul_id), "^%s", f->id);
	person_case(f, nul_id, "x", "440305", "key field 'person.national_id' is empty");
	person_case(f, f->id, "x", "4403^5",
	            "field 'person.registration_region_code' is not a 6-digit region code");
}

static void test_hostile_bytes(void **state)
{
	struct fixture *f = *state;
	char text[2048], reason[CPS_ERRSTR_SIZE];
	struct cps_buf buf;

	cps_buf_init(&buf, 0);
	person_json(text, sizeof(text), f->id, "Zhang San", "440305");
	encode_json(f, "person", CPS_FRAMING_SINGLE_OBJECT, text, &buf);
	/* truncated */
	agree(f->typed, f->json, "person", buf.data, buf.len - 3, NULL, 0, reason, sizeof(reason));
	assert_non_null(strstr(reason, "undecodable person record: "));
	/* trailing bytes */
	cps_buf_append(&buf, "\x02", 1);
	agree(f->typed, f->json, "person", buf.data, buf.len, NULL, 0, reason, sizeof(reason));
	assert_non_null(strstr(reason, "undecodable person record: "));
	/* an unknown fingerprint goes the JSON way in both */
	buf.data[2] ^= 0x55;
	agree(f->typed, f->json, "person", buf.data, buf.len, NULL, 0, reason, sizeof(reason));
	assert_non_null(strstr(reason, "unknown to the catalog"));
	cps_buf_release(&buf);
}

/* Seeded mutations of valid messages of two entities: flipped bytes,
 * truncations, inserted bytes. Both ways must agree on every one. */
static void test_mutations(void **state)
{
	struct fixture *f = *state;
	char text[2048];
	struct cps_buf orig, m;
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	int accepted = 0, dead = 0;

	cps_buf_init(&orig, 0);
	cps_buf_init(&m, 0);
	for (int i = 0; i < 3000; i++) {
		const char *entity = i % 2 ? "person" : "household";
		int edits;

		if (i % 2)
			person_json(text, sizeof(text), f->id, "Zhang San", "440305");
		else
			snprintf(
			    text, sizeof(text),
			    "{\"household_id\":\"H1\",\"head_national_id\":\"%s\",\"members\":"
			    "[{\"national_id\":\"%s\",\"relation\":\"HEAD\"},{\"national_id\":"
			    "\"%s\",\"relation\":\"SPOUSE\"}],\"member_count\":2,\"region_code\":"
			    "\"440305\",\"household_type\":\"URBAN\",\"per_capita_monthly_income\":"
			    "\"\\u0003\\u00e8\",\"monitoring_category\":\"DIBAO\","
			    "\"monitoring_since\":{\"int\":19000}}",
			    f->id, f->id, f->id2);
		encode_json(f, entity, CPS_FRAMING_SINGLE_OBJECT, text, &orig);
		cps_buf_reset(&m);
		cps_buf_append(&m, orig.data, orig.len);
		edits = 1 + (int)(seed % 3);
		for (int e = 0; e < edits; e++) {
			size_t at;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* keep the 10-byte frame header: mutate the body */
			at = 10 + (size_t)((seed >> 33) % (m.len - 10));
			switch ((seed >> 20) % 4) {
			case 0:
				m.data[at] ^= (uint8_t)(1u << ((seed >> 8) % 8));
				break;
			case 1:
				m.data[at] = (uint8_t)(seed >> 40);
				break;
			case 2:
				m.len = at > 10 ? at : m.len;
				break;
			default:
				m.data[at] = (uint8_t)(seed >> 48) | 0x80;
				break;
			}
		}
		if (agree(f->typed, f->json, entity, m.data, m.len, NULL, 0, NULL, 0))
			accepted++;
		else
			dead++;
	}
	/* the mutations reach both outcomes */
	assert_true(accepted > 100);
	assert_true(dead > 100);
	cps_buf_release(&orig);
	cps_buf_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_records),
	    cmocka_unit_test(test_rules_and_reasons),
	    cmocka_unit_test(test_hostile_bytes),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
