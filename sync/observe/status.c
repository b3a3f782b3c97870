/*
 * The link registry behind /status and /readyz: one struct cps_link per
 * running connector, counters updated with atomics by the link's thread,
 * the texts (last_error, bootstrap) under the registry lock. Serialises the
 * links and the global facts to the /status JSON document, with the
 * per-platform roll-up (freshness against its target, throughput, errors).
 */
#include "observe/status.h"
#include "base/clock.h"

#include "base/common.h"
#include "base/pii.h"

#include <ctype.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cps_status {
	pthread_mutex_t lock;
	char instance[128];
	char bootstrap[256];
	char unready[256]; /* cps_status_set_unready: "" when none */
	int64_t started_mono_ms;
	struct cps_link **links; /* each allocated alone: pointers stay valid */
	size_t n, cap;
	struct freshness_target {
		char platform[32];
		int64_t target_s;
	} targets[16];
	size_t n_targets;
	struct purged { /* cps_status_count_purged: rows retention purged, by kind */
		char what[32];
		int64_t rows;
	} purged[8];
	size_t n_purged;
	json_t *sweep; /* cps_status_set_sweep: the last sweep's differences; NULL */
};

int cps_status_new(const char *instance, struct cps_status **out)
{
	struct cps_status *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return CPS_ERR_FATAL;
	pthread_mutex_init(&st->lock, NULL);
	snprintf(st->instance, sizeof(st->instance), "%s", instance ? instance : "");
	st->started_mono_ms = cps_mono_ms();
	*out = st;
	return CPS_OK;
}

void cps_status_free(struct cps_status *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		free(st->links[i]);
	free(st->links);
	json_decref(st->sweep);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

struct cps_link *cps_status_add_link(struct cps_status *st, const char *name, const char *platform,
                                     const char *type, enum cps_link_direction dir)
{
	struct cps_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	snprintf(l->name, sizeof(l->name), "%s", name ? name : "");
	snprintf(l->platform, sizeof(l->platform), "%s", platform ? platform : "");
	snprintf(l->type, sizeof(l->type), "%s", type ? type : "");
	l->direction = dir;
	atomic_init(&l->state, CPS_LINK_STARTING);
	atomic_init(&l->records, 0);
	atomic_init(&l->errors, 0);
	atomic_init(&l->dead_letters, 0);
	atomic_init(&l->lag, -1);
	atomic_init(&l->last_success_ms, 0);
	atomic_init(&l->newest_effective_ms, 0);
	cps_throughput_init(&l->throughput);

	pthread_mutex_lock(&st->lock);
	if (cps_grow(&st->links, &st->cap, st->n + 1, sizeof(*st->links)) != 0) {
		pthread_mutex_unlock(&st->lock);
		free(l);
		return NULL;
	}
	st->links[st->n++] = l;
	pthread_mutex_unlock(&st->lock);
	return l;
}

void cps_link_set_state(struct cps_link *l, enum cps_link_state s)
{
	atomic_store(&l->state, (int)s);
}

/* Copies `msg` into `out`, masking any run of digits that looks like a
 * national ID (15 digits, or 17 digits and a check character): the caller
 * masks, this is the last line of defence for the status documents. */
static void scrub_copy(const char *msg, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = msg; *p && o + 1 < size;) {
		size_t run = 0;

		while (isdigit((unsigned char)p[run]))
			run++;
		if (run == 17 && (p[run] == 'X' || p[run] == 'x'))
			run++;
		if (run >= 15) {
			char masked[CPS_MASK_SIZE], id[32];
			size_t take = run < sizeof(id) ? run : sizeof(id) - 1;

			memcpy(id, p, take);
			id[take] = '\0';
			if (run == 15 || run == 18)
				cps_mask_national_id(id, masked, sizeof(masked));
			else
				snprintf(masked, sizeof(masked), "***");
			for (const char *m = masked; *m && o + 1 < size; m++)
				out[o++] = *m;
			p += run;
			continue;
		}
		if (run == 0)
			run = 1;
		for (size_t i = 0; i < run && o + 1 < size; i++)
			out[o++] = p[i];
		p += run;
	}
	out[o] = '\0';
}

void cps_link_set_error(struct cps_status *st, struct cps_link *l, const char *msg)
{
	char clean[sizeof(l->last_error)];

	scrub_copy(msg ? msg : "", clean, sizeof(clean));
	pthread_mutex_lock(&st->lock);
	memcpy(l->last_error, clean, sizeof(clean));
	pthread_mutex_unlock(&st->lock);
}

void cps_link_set_snapshot(struct cps_status *st, struct cps_link *l,
                           const struct cps_link_snapshot *snap)
{
	pthread_mutex_lock(&st->lock);
	l->snapshot = *snap;
	pthread_mutex_unlock(&st->lock);
}

const char *cps_drop_reason_name(enum cps_drop_reason why)
{
	static const char *const names[CPS_DROP_REASONS] = {"echo", "not_allowed", "undecodable",
	                                                    "refused", "superseded"};

	return why < CPS_DROP_REASONS ? names[why] : "unknown";
}

const char *cps_link_state_name(enum cps_link_state s)
{
	switch (s) {
	case CPS_LINK_STARTING:
		return "STARTING";
	case CPS_LINK_RUNNING:
		return "RUNNING";
	case CPS_LINK_PAUSED:
		return "PAUSED";
	case CPS_LINK_FAILED:
		return "FAILED";
	case CPS_LINK_STOPPED:
		return "STOPPED";
	case CPS_LINK_STANDBY:
		return "STANDBY";
	case CPS_LINK_DEGRADED:
		return "DEGRADED";
	}
	return "UNKNOWN";
}

void cps_status_set_freshness_target(struct cps_status *st, const char *platform, int64_t target_s)
{
	size_t i;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n_targets; i++)
		if (!strcmp(st->targets[i].platform, platform))
			break;
	if (i < CPS_ARRAY_SIZE(st->targets)) {
		snprintf(st->targets[i].platform, sizeof(st->targets[i].platform), "%s", platform);
		st->targets[i].target_s = target_s;
		if (i == st->n_targets)
			st->n_targets++;
	}
	pthread_mutex_unlock(&st->lock);
}

void cps_status_sample(struct cps_status *st)
{
	int64_t now_s = cps_throughput_now();
	size_t n = cps_status_link_count(st);

	for (size_t i = 0; i < n; i++) {
		struct cps_link *l = cps_status_link_at(st, i);
		int64_t total = atomic_load(&l->records);

		if (total > l->sampled_records)
			cps_throughput_add(&l->throughput, now_s, total - l->sampled_records);
		l->sampled_records = total;
	}
}

void cps_status_set_bootstrap(struct cps_status *st, const char *bootstrap)
{
	pthread_mutex_lock(&st->lock);
	snprintf(st->bootstrap, sizeof(st->bootstrap), "%s", bootstrap ? bootstrap : "");
	pthread_mutex_unlock(&st->lock);
}

void cps_status_set_unready(struct cps_status *st, const char *reason)
{
	pthread_mutex_lock(&st->lock);
	snprintf(st->unready, sizeof(st->unready), "%s", reason ? reason : "");
	pthread_mutex_unlock(&st->lock);
}

bool cps_status_unready(struct cps_status *st, char *out, size_t out_size)
{
	bool set;

	pthread_mutex_lock(&st->lock);
	set = st->unready[0] != '\0';
	snprintf(out, out_size, "%s", st->unready);
	pthread_mutex_unlock(&st->lock);
	return set;
}

size_t cps_status_link_count(struct cps_status *st)
{
	size_t n;

	pthread_mutex_lock(&st->lock);
	n = st->n;
	pthread_mutex_unlock(&st->lock);
	return n;
}

struct cps_link *cps_status_link_at(struct cps_status *st, size_t i)
{
	struct cps_link *l = NULL;

	pthread_mutex_lock(&st->lock);
	if (i < st->n)
		l = st->links[i];
	pthread_mutex_unlock(&st->lock);
	return l;
}

/* "2026-11-28T20:16:52.123Z" or JSON null for 0 (never). */
static json_t *iso8601_or_null(int64_t ms)
{
	char text[40];
	struct tm tm;
	time_t secs;

	if (ms <= 0)
		return json_null();
	secs = (time_t)(ms / 1000);
	if (!gmtime_r(&secs, &tm))
		return json_null();
	snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(text);
}

/* Age in seconds of the newest fact, -1 when there is none. */
static int64_t age_s(int64_t newest_ms, int64_t now_ms)
{
	if (newest_ms <= 0)
		return -1;
	return now_ms > newest_ms ? (now_ms - newest_ms) / 1000 : 0;
}

/* A sink link's records not sent, by reason. */
static json_t *dropped_to_json(struct cps_link *l)
{
	json_t *j = json_object();

	for (int i = 0; j && i < CPS_DROP_REASONS; i++)
		json_object_set_new(j, cps_drop_reason_name((enum cps_drop_reason)i),
		                    json_integer(atomic_load(&l->dropped[i])));
	return j;
}

/* @locks st->lock MUST be held (last_error). */
static json_t *cache_to_json(struct cps_link_cache *c)
{
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "entries", (json_int_t)atomic_load(&c->entries),
	    "bytes", (json_int_t)atomic_load(&c->bytes), "cap_bytes",
	    (json_int_t)atomic_load(&c->cap_bytes), "hits", (json_int_t)atomic_load(&c->hits),
	    "stale", (json_int_t)atomic_load(&c->stale), "misses",
	    (json_int_t)atomic_load(&c->misses), "evictions",
	    (json_int_t)atomic_load(&c->evictions));
}

static json_t *link_to_json(struct cps_link *l, int64_t now, int64_t now_s)
{
	int64_t lag = atomic_load(&l->lag);
	int64_t age = age_s(atomic_load(&l->newest_effective_ms), now);
	int64_t counts[CPS_THROUGHPUT_SECONDS];
	json_t *one, *series = json_array();

	if (!series)
		return NULL;
	cps_throughput_series(&l->throughput, now_s, counts);
	for (int i = 0; i < CPS_THROUGHPUT_SECONDS; i++)
		json_array_append_new(series, json_integer(counts[i]));
	one = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:o,s:s?}", "name", l->name,
	                "platform", l->platform, "direction",
	                l->direction == CPS_LINK_SOURCE ? "source" : "sink", "type", l->type,
	                "state", cps_link_state_name((enum cps_link_state)atomic_load(&l->state)),
	                "records", (json_int_t)atomic_load(&l->records), "errors",
	                (json_int_t)atomic_load(&l->errors), "dead_letters",
	                (json_int_t)atomic_load(&l->dead_letters), "lag",
	                lag < 0 ? json_null() : json_integer(lag), "last_success",
	                iso8601_or_null(atomic_load(&l->last_success_ms)), "freshness_s",
	                age < 0 ? json_null() : json_integer(age), "last_error",
	                l->last_error[0] ? l->last_error : NULL);
	if (!one) {
		json_decref(series);
		return NULL;
	}
	if (l->direction == CPS_LINK_SOURCE)
		json_object_set_new(one, "ignored_files",
		                    json_integer(atomic_load(&l->ignored_files)));
	else
		json_object_set_new(one, "dropped", dropped_to_json(l));
	if (l->direction == CPS_LINK_SOURCE && l->snapshot.table[0])
		json_object_set_new(one, "snapshot",
		                    json_pack("{s:s, s:s, s:I, s:I, s:I}", "table",
		                              l->snapshot.table, "state", l->snapshot.state,
		                              "chunks", (json_int_t)l->snapshot.chunks, "rows",
		                              (json_int_t)l->snapshot.rows, "tables_waiting",
		                              (json_int_t)l->snapshot.waiting));
	if (atomic_load(&l->cache.cap_bytes) > 0)
		json_object_set_new(one, "state_cache", cache_to_json(&l->cache));
	json_object_set_new(one, "throughput_per_min",
	                    json_integer(cps_throughput_sum(&l->throughput, now_s)));
	json_object_set_new(one, "series", series);
	return one;
}

/* The roll-up of the links of `platform`: freshness is the age of the
 * newest fact any of them applied; last_error is that of a link not
 * RUNNING if there is one, else any link's.
 * @locks st->lock MUST be held */
static json_t *platform_to_json(struct cps_status *st, const char *platform, int64_t now,
                                int64_t now_s)
{
	int64_t newest = 0, throughput = 0, errors = 0, dead = 0, target = -1;
	const char *last_error = NULL;
	int last_error_down = 0;
	json_t *links = json_array(), *doc;
	int64_t age;
	bool fresh;

	if (!links)
		return NULL;
	for (size_t i = 0; i < st->n; i++) {
		struct cps_link *l = st->links[i];
		int64_t eff = atomic_load(&l->newest_effective_ms);
		int state = atomic_load(&l->state);
		int down = state != CPS_LINK_RUNNING && state != CPS_LINK_STANDBY;

		if (strcmp(l->platform, platform) != 0)
			continue;
		json_array_append_new(links, json_string(l->name));
		if (eff > newest)
			newest = eff;
		throughput += cps_throughput_sum(&l->throughput, now_s);
		errors += atomic_load(&l->errors);
		dead += atomic_load(&l->dead_letters);
		if (l->last_error[0] && (!last_error || (down && !last_error_down))) {
			last_error = l->last_error;
			last_error_down = down;
		}
	}
	for (size_t i = 0; i < st->n_targets; i++)
		if (!strcmp(st->targets[i].platform, platform))
			target = st->targets[i].target_s;
	age = age_s(newest, now);
	fresh = age >= 0 && (target < 0 || age <= target);
	doc = json_pack("{s:s,s:o,s:o,s:o,s:b,s:I,s:I,s:I,s:s?}", "name", platform, "links", links,
	                "freshness_s", age < 0 ? json_null() : json_integer(age),
	                "freshness_target_s", target < 0 ? json_null() : json_integer(target),
	                "fresh", fresh, "throughput_per_min", (json_int_t)throughput, "errors",
	                (json_int_t)errors, "dead_letters", (json_int_t)dead, "last_error",
	                last_error);
	return doc;
}

/* One entry per platform of the links (in order of first appearance),
 * cpsync's own links left out.
 * @locks st->lock MUST be held */
static json_t *platforms_to_json(struct cps_status *st, int64_t now, int64_t now_s)
{
	json_t *platforms = json_array();

	for (size_t i = 0; platforms && i < st->n; i++) {
		const char *name = st->links[i]->platform;
		size_t j;
		json_t *one;

		if (!strcmp(name, CPS_STATUS_ENGINE_PLATFORM))
			continue;
		for (j = 0; j < i; j++)
			if (!strcmp(st->links[j]->platform, name))
				break;
		if (j < i)
			continue; /* already rolled up */
		one = platform_to_json(st, name, now, now_s);
		if (!one || json_array_append_new(platforms, one) != 0) {
			json_decref(platforms);
			return NULL;
		}
	}
	return platforms;
}

void cps_status_count_purged(struct cps_status *st, const char *what, int64_t rows)
{
	size_t i;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n_purged && strcmp(st->purged[i].what, what) != 0; i++)
		;
	if (i == st->n_purged && i < CPS_ARRAY_SIZE(st->purged))
		snprintf(st->purged[st->n_purged++].what, sizeof(st->purged[i].what), "%s", what);
	if (i < st->n_purged)
		st->purged[i].rows += rows;
	pthread_mutex_unlock(&st->lock);
}

/* @locks st->lock MUST be held. */
static json_t *purged_to_json(struct cps_status *st)
{
	json_t *j = json_object();

	for (size_t i = 0; j && i < st->n_purged; i++)
		json_object_set_new(j, st->purged[i].what, json_integer(st->purged[i].rows));
	return j;
}

json_t *cps_status_to_json(struct cps_status *st)
{
	json_t *doc, *links = json_array(), *platforms;
	int64_t now = cps_wall_ms(), now_s = cps_throughput_now();

	if (!links)
		return NULL;
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->n; i++) {
		json_t *one = link_to_json(st->links[i], now, now_s);

		if (!one || json_array_append_new(links, one) != 0) {
			pthread_mutex_unlock(&st->lock);
			json_decref(links);
			return NULL;
		}
	}
	platforms = platforms_to_json(st, now, now_s);
	if (!platforms) {
		pthread_mutex_unlock(&st->lock);
		json_decref(links);
		return NULL;
	}
	doc = json_pack("{s:s,s:s,s:I,s:{s:s?,s:b},s:o,s:o,s:o}", "version", CPSYNC_VERSION,
	                "instance", st->instance, "uptime_s",
	                (json_int_t)((cps_mono_ms() - st->started_mono_ms) / 1000), "kafka",
	                "bootstrap", st->bootstrap[0] ? st->bootstrap : NULL, "embedded", 0,
	                "links", links, "platforms", platforms, "retention", purged_to_json(st));
	if (doc && st->sweep)
		json_object_set_new(doc, "sweep", json_pack("{s:O}", "differences", st->sweep));
	pthread_mutex_unlock(&st->lock);
	return doc;
}

void cps_status_set_sweep(struct cps_status *st, json_t *differences)
{
	pthread_mutex_lock(&st->lock);
	json_decref(st->sweep);
	st->sweep = json_incref(differences);
	pthread_mutex_unlock(&st->lock);
}
