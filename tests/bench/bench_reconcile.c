/*
 * What reconciliation costs per event: person events from the three
 * platforms applied to K key states with the default rules (the worker's
 * reconcile step, without the store). Most events change a residence or
 * contact field; some are the same fact again. Prints events/s (this
 * thread's CPU time, best of R rounds) and a checksum of the final versions,
 * so runs before and after a change can be compared; for counts noise cannot
 * move, run it under `valgrind --tool=callgrind`. Then the same events
 * through the typed engine (reconcile/typed_reconcile.h, its events made
 * beforehand as the JSON engine's are): its events/s, its ratio to the JSON
 * engine's, and a failure unless every key ends at the same version. Last,
 * what storing and loading the final states' facts and provenance costs
 * with the JSON codec on jansson trees and with the typed codec, what
 * writing their unified events costs from either state, and what turning
 * an ingest payload into the engine's event costs either way.
 *
 *   bench_reconcile SOURCE_DIR [EVENTS=60000] [KEYS=2000] [ROUNDS=3]
 */
#include "base/common.h"
#include "config/config.h"
#include "model/event.h"
#include "codec/record.h"
#include "codec/schema.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/typed_reconcile.h"
#include "reconcile/unified.h"
#include "store/jsonb.h"
#include "store/state_facts.h"
#include "store/state_typed.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const PLATFORMS[] = {"province", "city", "shenshan"};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		return NULL;
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct cps_rules *default_rules(const char *source_dir)
{
	static const char head[] = "platforms:\n"
	                           "  province: {connector: kafka}\n"
	                           "  city: {connector: postgres}\n"
	                           "  shenshan: {connector: files}\n";
	char path[1200], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	struct cps_rules *rules = NULL;
	char *body, *text;

	snprintf(path, sizeof(path), "%s/deploy/rules.default.yaml", source_dir);
	body = read_file(path);
	if (!body) {
		fprintf(stderr, "bench_reconcile: cannot read %s\n", path);
		exit(1);
	}
	text = malloc(sizeof(head) + strlen(body));
	strcpy(text, head);
	strcat(text, body);
	if (cps_config_load_string(text, strlen(text), "rules.default.yaml", NULL, &cfg, err,
	                           sizeof(err)) != CPS_OK ||
	    cps_rules_from_config(cfg, &rules, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "bench_reconcile: rules: %s\n", err);
		exit(1);
	}
	cps_config_free(cfg);
	free(text);
	free(body);
	return rules;
}

/* Event i: key i % keys, platform i % 3; every 4th round of the keys brings
 * the previous round's facts again (they change nothing). */
static void make_event(struct cps_ingest_event *ev, size_t i, size_t keys, char *key)
{
	size_t k = i % keys, change = i / keys % 4 == 3 ? i - keys : i;
	char pos[48], addr[64], phone[16];

	snprintf(key, 19, "4403051980%04zu%03zu", k % 10000, k % 997);
	key[17] = 'X';
	key[18] = '\0';
	snprintf(pos, sizeof(pos), "%s:0/%zX", PLATFORMS[change % 3], change);
	snprintf(addr, sizeof(addr), "南山区测试街道%zu号", change / keys % 97);
	snprintf(phone, sizeof(phone), "1380000%04zu", change / keys % 10000);
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->platform, sizeof(ev->platform), "%s", PLATFORMS[change % 3]);
	snprintf(ev->entity, sizeof(ev->entity), "person");
	ev->key = key;
	ev->op = CPS_OP_UPSERT;
	ev->effective_ms = 1700000000000LL + (int64_t)(change / keys) * 1000;
	ev->source_ms = ev->effective_ms + 5;
	ev->source_position = strdup(pos);
	/* Avro JSON of schemas/person.avsc: unions wrapped, enums and dates bare */
	ev->record =
	    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s}, s:b, s:b, s:n, s:b, s:s, "
	              "s:{s:s}, s:{s:s}, s:b}",
	              "national_id", key, "name", "测试人员", "gender", "FEMALE", "birth_date",
	              3650, "registration_region_code", "440305", "residence_region_code",
	              k % 5 ? "440305" : "441521", "residence_address", "string", addr,
	              "has_residence_permit", 0, "disabled", k % 7 == 0, "disability_grade",
	              "seriously_ill", 0, "labour_capacity", "FULL", "phone", "string", phone,
	              "household_id", "string", "HH-440305-000001", "deceased", 0);
}

static struct cps_catalog *catalog;

static const struct cps_record_schema *person_schema(const char *source_dir)
{
	static struct cps_record_schema *rs;
	char dir[1200], err[CPS_ERRSTR_SIZE];

	snprintf(dir, sizeof(dir), "%s/schemas", source_dir);
	if (cps_catalog_load_dir(dir, &catalog, err, sizeof(err)) != CPS_OK ||
	    cps_record_schema_new(cps_catalog_by_entity(catalog, "person"), &rs, err,
	                          sizeof(err)) != CPS_OK) {
		fprintf(stderr, "bench_reconcile: person schema: %s\n", err);
		exit(1);
	}
	return rs;
}

/* One round of the typed engine into ts[keys], each key's state in arenas[k]
 * (the caller releases them). Returns the sum of the final versions, or -1. */
static long long typed_round(const struct cps_rules *rules, const struct cps_record_schema *rs,
                             const struct cps_tevent *tevs, size_t events, size_t keys,
                             char (*names)[20], struct cps_tstate *ts, struct cps_arena *arenas,
                             double *seconds)
{
	char err[CPS_ERRSTR_SIZE];
	long long sum = 0;
	double t0;

	for (size_t k = 0; k < keys; k++) {
		cps_arena_init(&arenas[k], 4096);
		cps_tstate_init(&ts[k], rs, "person", names[k], &arenas[k], err, sizeof(err));
	}
	t0 = cpu_now();
	for (size_t i = 0; i < events; i++) {
		struct cps_toutcome o;

		if (cps_treconcile_apply(rules, &ts[i % keys], &tevs[i], &o, err, sizeof(err)) !=
		    CPS_OK) {
			fprintf(stderr, "bench_reconcile: typed, event %zu: %s\n", i, err);
			return -1;
		}
	}
	*seconds = cpu_now() - t0;
	for (size_t k = 0; k < keys; k++)
		sum += ts[k].version;
	return sum;
}

static void release_states(struct cps_tstate *ts, struct cps_arena *arenas, size_t keys)
{
	for (size_t k = 0; k < keys; k++)
		cps_arena_release(&arenas[k]);
	memset(ts, 0, keys * sizeof(*ts));
}

/* What turning an ingest payload (the record's Avro binary) into the
 * engine's event costs: the JSON way as the worker takes it (the typed
 * decoder, then Avro JSON), and the typed event's fields. */
static void payload_figures(const struct cps_record_schema *rs, const struct cps_ingest_event *evs,
                            size_t events)
{
	struct cps_buf *payloads = calloc(events, sizeof(*payloads));
	struct cps_arena arena, scratch;
	struct cps_tstate st;
	char err[CPS_ERRSTR_SIZE];
	double t_json = 1e30, t_typed = 1e30;

	cps_arena_init(&arena, 0);
	cps_arena_init(&scratch, 0);
	cps_tstate_init(&st, rs, "person", "k", &arena, err, sizeof(err));
	for (size_t i = 0; i < events; i++) {
		cps_buf_init(&payloads[i], 0);
		if (cps_record_encode_json(rs, evs[i].record, &payloads[i], err, sizeof(err))) {
			fprintf(stderr, "bench_reconcile: payload %zu: %s\n", i, err);
			exit(1);
		}
	}
	for (int r = 0; r < 3; r++) {
		double t0 = cpu_now();

		for (size_t i = 0; i < events; i++) {
			struct cps_tval v;
			json_t *j;

			cps_arena_reset(&scratch);
			cps_record_decode(rs, payloads[i].data, payloads[i].len, NULL, 0, &scratch,
			                  &v, err, sizeof(err));
			j = cps_record_to_json(rs, &v, err, sizeof(err));
			json_decref(j);
		}
		t_json = fmin(t_json, cpu_now() - t0);
		t0 = cpu_now();
		for (size_t i = 0; i < events; i++) {
			struct cps_tevent tev;

			if (i % 1000 == 0)
				cps_arena_reset(&arena); /* a batch's arena */
			cps_tstate_init(&st, rs, "person", "k", &arena, err, sizeof(err));
			if (cps_tevent_from_avro(&st, &evs[i], payloads[i].data, payloads[i].len,
			                         &tev, err, sizeof(err))) {
				fprintf(stderr, "bench_reconcile: typed event %zu: %s\n", i, err);
				exit(1);
			}
		}
		t_typed = fmin(t_typed, cpu_now() - t0);
	}
	printf("payload to engine event: JSON %.2f us, typed %.2f us an event (ratio %.2f)\n",
	       1e6 * t_json / (double)events, 1e6 * t_typed / (double)events, t_json / t_typed);
	for (size_t i = 0; i < events; i++)
		cps_buf_release(&payloads[i]);
	free(payloads);
	cps_arena_release(&arena);
	cps_arena_release(&scratch);
}

/* What writing a state's unified event costs, from the JSON state (its
 * view) and from the typed state, as a re-publish writes it (no outcome). */
static void event_figures(const struct cps_tstate *ts, const struct cps_key_state *views,
                          size_t keys)
{
	struct cps_unified_conf conf = {.catalog = catalog, .framing = CPS_FRAMING_CONFLUENT};
	struct cps_unified *u;
	struct cps_buf out;
	char err[CPS_ERRSTR_SIZE];
	double t_json = 1e30, t_typed = 1e30;

	if (cps_unified_new(&conf, &u, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "bench_reconcile: unified: %s\n", err);
		exit(1);
	}
	cps_buf_init(&out, 0);
	for (int r = 0; r < 3; r++) {
		double t0 = cpu_now();

		for (size_t k = 0; k < keys; k++) {
			cps_buf_reset(&out);
			if (cps_unified_encode(u, &views[k], NULL, 1, &out, err, sizeof(err))) {
				fprintf(stderr, "bench_reconcile: event: %s\n", err);
				exit(1);
			}
		}
		t_json = fmin(t_json, cpu_now() - t0);
		t0 = cpu_now();
		for (size_t k = 0; k < keys; k++) {
			cps_buf_reset(&out);
			if (cps_unified_encode_typed(u, &ts[k], NULL, 1, &out, err, sizeof(err))) {
				fprintf(stderr, "bench_reconcile: typed event: %s\n", err);
				exit(1);
			}
		}
		t_typed = fmin(t_typed, cpu_now() - t0);
	}
	printf("unified event encode: JSON %.1f us, typed %.1f us an event (ratio %.2f)\n",
	       1e6 * t_json / (double)keys, 1e6 * t_typed / (double)keys, t_json / t_typed);
	cps_buf_release(&out);
	cps_unified_free(u);
}

/* What writing a record's jsonb text costs: the JSON record's (jsonb.c)
 * and the typed state's (store/state_typed.h). */
static void record_figures(const struct cps_tstate *ts, const struct cps_key_state *views,
                           size_t keys)
{
	struct cps_buf out;
	char err[CPS_ERRSTR_SIZE];
	double t_json = 1e30, t_typed = 1e30;

	cps_buf_init(&out, 0);
	for (int r = 0; r < 3; r++) {
		double t0 = cpu_now();

		for (size_t k = 0; k < keys; k++) {
			int ok;

			free(cps_jsonb_param(views[k].record, NULL, &ok));
		}
		t_json = fmin(t_json, cpu_now() - t0);
		t0 = cpu_now();
		for (size_t k = 0; k < keys; k++) {
			cps_buf_reset(&out);
			if (cps_tstate_record_jsonb(&ts[k], &out, err, sizeof(err))) {
				fprintf(stderr, "bench_reconcile: record jsonb: %s\n", err);
				exit(1);
			}
		}
		t_typed = fmin(t_typed, cpu_now() - t0);
	}
	printf("record jsonb text: JSON %.2f us, typed %.2f us a record (ratio %.2f)\n",
	       1e6 * t_json / (double)keys, 1e6 * t_typed / (double)keys, t_json / t_typed);
	cps_buf_release(&out);
}

/* What storing and loading a key state's facts and provenance costs, the
 * JSON codec on the JSON trees against the typed codec on the typed state
 * (store/state_facts.h, store/state_typed.h): encode both, decode both. */
static void codec_figures(const struct cps_tstate *ts, size_t keys)
{
	struct cps_key_state *views = calloc(keys, sizeof(*views));
	struct cps_buf facts, prov;
	struct cps_arena arena;
	char err[CPS_ERRSTR_SIZE];
	double t_json = 1e30, t_typed = 1e30;
	size_t bytes = 0;

	cps_buf_init(&facts, CPS_BUF_DEFAULT_LIMIT);
	cps_buf_init(&prov, CPS_BUF_DEFAULT_LIMIT);
	cps_arena_init(&arena, 0);
	for (size_t k = 0; k < keys; k++)
		cps_tstate_to_json(&ts[k], &views[k], err, sizeof(err));
	for (int r = 0; r < 3; r++) {
		double t0 = cpu_now();

		for (size_t k = 0; k < keys; k++) {
			json_t *pl, *pv;

			cps_buf_reset(&facts);
			cps_buf_reset(&prov);
			cps_facts_encode(views[k].platforms, &facts, err, sizeof(err));
			cps_prov_encode(views[k].provenance, &prov, err, sizeof(err));
			cps_facts_decode(facts.data, facts.len, &pl, err, sizeof(err));
			cps_prov_decode(prov.data, prov.len, &pv, NULL, err, sizeof(err));
			json_decref(pl);
			json_decref(pv);
			bytes += r ? 0 : facts.len + prov.len;
		}
		t_json = fmin(t_json, cpu_now() - t0);
		t0 = cpu_now();
		for (size_t k = 0; k < keys; k++) {
			struct cps_tstate back;

			cps_buf_reset(&facts);
			cps_buf_reset(&prov);
			cps_tstate_facts_encode(&ts[k], &facts, err, sizeof(err));
			cps_tstate_prov_encode(&ts[k], &prov, err, sizeof(err));
			cps_arena_reset(&arena);
			cps_tstate_init(&back, ts[k].rs, "person", ts[k].key, &arena, err,
			                sizeof(err));
			if (cps_tstate_facts_decode(&back, facts.data, facts.len, err,
			                            sizeof(err)) ||
			    cps_tstate_prov_decode(&back, prov.data, prov.len, err, sizeof(err))) {
				fprintf(stderr, "bench_reconcile: typed codec: %s\n", err);
				exit(1);
			}
		}
		t_typed = fmin(t_typed, cpu_now() - t0);
	}
	record_figures(ts, views, keys);
	printf("state facts+provenance store+load: JSON %.1f us, typed %.1f us a state (ratio "
	       "%.2f; %zu bytes a state)\n",
	       1e6 * t_json / (double)keys, 1e6 * t_typed / (double)keys, t_json / t_typed,
	       bytes / keys);
	event_figures(ts, views, keys);
	for (size_t k = 0; k < keys; k++)
		cps_key_state_release(&views[k]);
	free(views);
	cps_buf_release(&facts);
	cps_buf_release(&prov);
	cps_arena_release(&arena);
}

/* The typed engine on the same events; 1 when it fails or disagrees. */
static int typed_rounds(const char *source_dir, const struct cps_rules *rules,
                        const struct cps_ingest_event *evs, size_t events, size_t keys,
                        char (*names)[20], int rounds, double json_best, long long checksum)
{
	const struct cps_record_schema *rs = person_schema(source_dir);
	struct cps_tevent *tevs = calloc(events, sizeof(*tevs));
	struct cps_tstate *ts = calloc(keys, sizeof(*ts));
	struct cps_arena *arenas = calloc(keys, sizeof(*arenas)), arena;
	struct cps_tstate staging;
	char err[CPS_ERRSTR_SIZE];
	double best = 0;

	cps_arena_init(&arena, 0);
	cps_tstate_init(&staging, rs, "person", "staging", &arena, err, sizeof(err));
	for (size_t i = 0; i < events; i++) {
		if (cps_tevent_from_json(&staging, &evs[i], &tevs[i], err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "bench_reconcile: typed event %zu: %s\n", i, err);
			return 1;
		}
	}
	for (int r = 0; r < rounds; r++) {
		double dt;
		long long sum = typed_round(rules, rs, tevs, events, keys, names, ts, arenas, &dt);

		if (sum != checksum) {
			release_states(ts, arenas, keys);
			fprintf(stderr,
			        "bench_reconcile: the typed engine's final versions (%lld) "
			        "differ from the JSON engine's (%lld)\n",
			        sum, checksum);
			return 1;
		}
		if (dt > 0 && (double)events / dt > best)
			best = (double)events / dt;
		if (r < rounds - 1)
			release_states(ts, arenas, keys);
	}
	printf("typed reconcile apply: %.0f events/s (%.1f us/event), best of %d rounds\n", best,
	       1e6 / best, rounds);
	printf("ratio typed / JSON engine: %.2f (same final versions)\n", best / json_best);
	codec_figures(ts, keys);
	payload_figures(rs, evs, events);
	release_states(ts, arenas, keys);
	free(ts);
	free(arenas);
	cps_arena_release(&arena);
	free(tevs);
	return 0;
}

int main(int argc, char **argv)
{
	size_t events = argc > 2 ? strtoul(argv[2], NULL, 10) : 60000;
	size_t keys = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
	int rounds = argc > 4 ? atoi(argv[4]) : 3;
	struct cps_rules *rules;
	struct cps_ingest_event *evs;
	char(*names)[20];
	double best = 0;
	long long checksum = 0;

	if (argc < 2 || !events || !keys || rounds < 1) {
		fprintf(stderr, "usage: bench_reconcile SOURCE_DIR [EVENTS] [KEYS] [ROUNDS]\n");
		return 2;
	}
	rules = default_rules(argv[1]);
	evs = calloc(events, sizeof(*evs));
	names = calloc(events, sizeof(*names));
	for (size_t i = 0; i < events; i++)
		make_event(&evs[i], i, keys, names[i]);
	for (int r = 0; r < rounds; r++) {
		struct cps_key_state *st = calloc(keys, sizeof(*st));
		long long changed = 0, sum = 0;
		double t0, dt;
		char err[CPS_ERRSTR_SIZE];

		for (size_t k = 0; k < keys; k++)
			cps_key_state_init(&st[k], "person", names[k]);
		t0 = cpu_now();
		for (size_t i = 0; i < events; i++) {
			struct cps_reconcile_outcome o;

			cps_reconcile_outcome_init(&o);
			if (cps_reconcile_apply(rules, &st[i % keys], &evs[i], &o, err,
			                        sizeof(err)) != CPS_OK) {
				fprintf(stderr, "bench_reconcile: event %zu: %s\n", i, err);
				return 1;
			}
			changed += o.changed;
			cps_reconcile_outcome_release(&o);
		}
		dt = cpu_now() - t0;
		for (size_t k = 0; k < keys; k++) {
			sum += st[k].version;
			cps_key_state_release(&st[k]);
		}
		free(st);
		if (r && sum != checksum) {
			fprintf(stderr, "bench_reconcile: rounds disagree\n");
			return 1;
		}
		checksum = sum;
		if (dt > 0 && (double)events / dt > best)
			best = (double)events / dt;
		if (!r)
			printf("events: %zu over %zu keys, %lld emitted a new version\n", events,
			       keys, changed);
	}
	printf("reconcile apply: %.0f events/s (%.1f us/event), best of %d rounds\n", best,
	       1e6 / best, rounds);
	printf("checksum of final versions: %lld\n", checksum);
	if (typed_rounds(argv[1], rules, evs, events, keys, names, rounds, best, checksum))
		return 1;
	for (size_t i = 0; i < events; i++) {
		free(evs[i].source_position);
		json_decref(evs[i].record);
	}
	free(evs);
	free(names);
	cps_rules_free(rules);
	return 0;
}
