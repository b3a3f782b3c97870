/*
 * The sink runner (sink_runner.h): one thread per platform sink. Consumes
 * the unified topics with the Kafka connector's source side, builds each
 * change's record (sink_record.c: no echoes, decided with one change-log
 * query per poll; the allow-list; encoded for the target), puts, and at
 * most every `flush_ms` flushes, then commits the
 * consumed offsets. A poison record (undecodable, not encodable, refused by
 * the target) goes to the dead letters (sink_poison.c) and the sink goes on;
 * the Kafka and files sinks never write an older version (sink_guard.c).
 * Any other failure closes and reopens both sides after a pause:
 * uncommitted events are delivered again (at-least-once).
 */
#include "sink/sink_runner_int.h"
#include "connectors/builtin.h"
#include "base/clock.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MS    1000
#define IDLE_FLUSH_MS 1000

void cps_sink_runner_stats(struct cps_sink_runner *r, struct cps_sink_stats *out)
{
	pthread_mutex_lock(&r->stats_lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->stats_lock);
}

static void close_sides(struct cps_sink_runner *r)
{
	cps_source_close(r->source);
	r->source = NULL;
	cps_sink_close(r->sink);
	r->sink = NULL;
}

static int open_sides(struct cps_sink_runner *r, char *errstr, size_t errstr_size)
{
	int rc = cps_sink_open_sink(r, errstr, errstr_size);

	if (rc == CPS_OK && !r->source)
		rc =
		    cps_connector_source_open(&cps_kafka_connector, r->platform,
		                              &r->source_settings, &r->source, errstr, errstr_size);
	return rc;
}

/* Remembers the newest consumed position of each stream partition until the
 * next flush. @locality the runner thread */
static int pending_add(struct cps_sink_runner *r, const struct cps_position *pos)
{
	for (size_t i = 0; i < r->n_pending; i++) {
		struct cps_position *p = &r->pending[i];

		if (p->partition == pos->partition && !strcmp(p->stream, pos->stream)) {
			if (pos->offset > p->offset)
				p->offset = pos->offset;
			return 0;
		}
	}
	if (cps_grow(&r->pending, &r->cap_pending, r->n_pending + 1, sizeof(*r->pending)) != 0)
		return -1;
	r->pending[r->n_pending++] = *pos;
	return 0;
}

/* Decodes message i of a poll into r->events[i] (key NULL when it is not
 * for this sink or undecodable, counted). An undecodable event of an entity
 * the sink sends is a dead letter at once: decoding it again gives the same. */
static int decode_event(struct cps_sink_runner *r, const struct cps_source_msg *m, size_t i,
                        char *errstr, size_t errstr_size)
{
	int ei = cps_entity_index(m->entity);
	char why[CPS_ERRSTR_SIZE], reason[CPS_ERRSTR_SIZE];

	memset(&r->events[i], 0, sizeof(r->events[i]));
	r->entity_of[i] = ei;
	if (ei < 0 || !r->allow[ei]) {
		drop_add(r, &r->stats.undecodable, CPS_DROP_UNDECODABLE);
		return CPS_OK;
	}
	if (cps_sink_decode_event(r, ei, m->value, m->value_len, &r->events[i], why, sizeof(why)) ==
	    CPS_OK)
		return CPS_OK;
	snprintf(reason, sizeof(reason), "undecodable unified event: %s", why);
	drop_add(r, &r->stats.undecodable, CPS_DROP_UNDECODABLE);
	return cps_sink_dead_letter(r, m, ei, 0, reason, errstr, errstr_size);
}

/* The records of one poll's events for the sink, in order; *n_out of them.
 * One that cannot be encoded is a dead letter. */
static int build_records(struct cps_sink_runner *r, const struct cps_source_batch *b, size_t *n_out,
                         char *errstr, size_t errstr_size)
{
	int rc = CPS_OK;

	*n_out = 0;
	for (size_t i = 0; rc == CPS_OK && i < b->n; i++) {
		struct out_rec *o = &r->out[*n_out];
		char why[CPS_ERRSTR_SIZE];
		bool skip = true;

		if (!r->events[i].key)
			continue;
		rc = cps_sink_build_record(r, r->entity_of[i], &r->events[i], o, &r->recs[*n_out],
		                           &skip, why, sizeof(why));
		if (is_refusal(rc)) {
			drop_add(r, &r->stats.refused, CPS_DROP_REFUSED);
			rc = cps_sink_dead_letter(r, &b->msgs[i], r->entity_of[i],
			                          r->events[i].version, why, errstr, errstr_size);
			continue;
		}
		if (rc != CPS_OK)
			return cps_seterr(rc, errstr, errstr_size, "%s", why);
		if (!skip) {
			o->msg = i;
			r->out_of[*n_out] = *n_out;
			(*n_out)++;
		}
	}
	return rc;
}

/* Puts the n records of a poll; a refusal delivers them one by one (a
 * refusal among records of earlier polls, not flushed yet: the next poll
 * after the reopen is). @locality the runner thread */
static int put_records(struct cps_sink_runner *r, const struct cps_source_batch *b, size_t n,
                       int64_t since_flush, int64_t *last_flush, char *errstr, size_t errstr_size)
{
	bool alone = r->unflushed == 0; /* the sink holds only this poll's records */
	size_t accepted = 0;
	int rc = CPS_OK;

	if (r->isolate && alone) {
		r->isolate = false;
		rc = cps_sink_deliver_isolated(r, b, n, errstr, errstr_size);
		return rc == CPS_OK ? cps_sink_flush_and_commit(r, last_flush, errstr, errstr_size)
		                    : rc;
	}
	if (n) {
		rc = cps_sink_put(r->sink, r->recs, n, &accepted, errstr, errstr_size);
		if (rc == CPS_OK && accepted != n)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                "sink accepted %zu of %zu records", accepted, n);
	}
	for (size_t k = 0; rc == CPS_OK && k < n; k++)
		if (cps_sink_guard_note(r, k) < 0)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rc == CPS_OK) {
		r->unflushed += n;
		if (since_flush < r->flush_ms)
			return CPS_OK;
		rc = cps_sink_flush_and_commit(r, last_flush, errstr, errstr_size);
	}
	if (!is_refusal(rc))
		return rc;
	cps_log_warn(FACILITY, "sink '%s': a record was refused (%s); delivering one by one",
	             r->platform, errstr);
	if (!alone) {
		r->isolate = true;
		return rc;
	}
	/* discard what the sink holds of this poll, then one record at a time */
	cps_sink_close(r->sink);
	r->sink = NULL;
	cps_sink_guard_forget(r);
	r->unflushed = 0;
	rc = cps_sink_deliver_isolated(r, b, n, errstr, errstr_size);
	return rc == CPS_OK ? cps_sink_flush_and_commit(r, last_flush, errstr, errstr_size) : rc;
}

/* One poll-put round; flush and commit when due. @locality the runner thread */
static int run_batch(struct cps_sink_runner *r, int64_t *last_flush, char *errstr,
                     size_t errstr_size)
{
	struct cps_source_batch batch = {0};
	size_t n_out = 0;
	int64_t since_flush;
	int rc = CPS_OK;

	rc = cps_source_poll(r->source, &batch, r->batch_max, r->poll_ms, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	since_flush = cps_mono_ms() - *last_flush;
	if (batch.n == 0) {
		if (since_flush >= (r->n_pending ? r->flush_ms : IDLE_FLUSH_MS))
			return cps_sink_flush_and_commit(r, last_flush, errstr, errstr_size);
		return CPS_OK;
	}
	stat_add(r, &r->stats.consumed, batch.n);
	cps_arena_reset(&r->values);
	for (size_t i = 0; i < batch.n; i++) {
		if (pending_add(r, &batch.msgs[i].pos) < 0)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (rc == CPS_OK)
			rc = decode_event(r, &batch.msgs[i], i, errstr, errstr_size);
	}
	if (rc == CPS_OK)
		rc = build_records(r, &batch, &n_out, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_sink_guard_filter(r, &n_out, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	return put_records(r, &batch, n_out, since_flush, last_flush, errstr, errstr_size);
}

/* Pause and restart, between batches: what was put is flushed and committed
 * first (best effort: what is not committed comes again), then both sides
 * close. Returns true while paused. @locality the runner thread */
static bool pause_or_restart(struct cps_sink_runner *r, int64_t *last_flush)
{
	bool restart = atomic_exchange(&r->restart, false), paused = cps_pause_on(&r->pause);
	char err[CPS_ERRSTR_SIZE];

	if (!restart && !paused)
		return false;
	if (r->sink && r->source &&
	    cps_sink_flush_and_commit(r, last_flush, err, sizeof(err)) != CPS_OK)
		cps_log_warn(FACILITY, "sink '%s': flush before %s failed: %s", r->platform,
		             restart ? "restart" : "pause", err);
	if (r->sink || r->source)
		cps_log_info(FACILITY, "sink '%s' %s", r->platform,
		             restart ? "restarting" : "paused");
	r->n_pending = 0;
	r->unflushed = 0;
	cps_sink_guard_forget(r);
	close_sides(r);
	if (restart)
		atomic_fetch_add(&r->restarts, 1);
	if (!paused)
		return false;
	if (r->link)
		cps_link_set_state(r->link, CPS_LINK_PAUSED);
	nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	return true;
}

struct cps_pause *cps_sink_runner_pause(struct cps_sink_runner *r)
{
	return &r->pause;
}

void cps_sink_runner_restart(struct cps_sink_runner *r)
{
	atomic_store(&r->restart, true);
}

int cps_sink_runner_offsets(struct cps_sink_runner *r, struct cps_offsets *out, char *errstr,
                            size_t errstr_size)
{
	return cps_connector_offsets_get(&cps_kafka_connector, r->platform, &r->source_settings,
	                                 out, errstr, errstr_size);
}

const char *cps_sink_runner_platform(const struct cps_sink_runner *r)
{
	return r->platform;
}

int64_t cps_sink_runner_restarts(struct cps_sink_runner *r)
{
	return atomic_load(&r->restarts);
}

/* Another instance is the platform's one writer: STANDBY (said once), and
 * ask again after a while. Nothing is consumed meanwhile. @locality the
 * runner thread */
static void stand_by(struct cps_sink_runner *r, const char *why)
{
	cps_sink_refuse_replay(r, "the sink stands by: another instance writes to its platform");
	if (r->link && atomic_load(&r->link->state) != CPS_LINK_STANDBY) {
		cps_log_info(FACILITY, "sink '%s': standby (%s)", r->platform, why);
		cps_link_set_state(r->link, CPS_LINK_STANDBY);
	}
	for (int64_t until = cps_mono_ms() + BACKOFF_MS;
	     cps_mono_ms() < until && !atomic_load(&r->stop);)
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
}

static void *runner_main(void *arg)
{
	struct cps_sink_runner *r = arg;
	char err[CPS_ERRSTR_SIZE];
	int64_t last_flush = cps_mono_ms();

	while (!atomic_load(&r->stop)) {
		int rc;

		if (pause_or_restart(r, &last_flush)) {
			cps_sink_refuse_replay(r, "the sink is paused");
			continue;
		}
		rc = open_sides(r, err, sizeof(err));
		if (rc == CPS_CONN_STANDBY) {
			stand_by(r, err);
			continue;
		}
		if (rc == CPS_OK) {
			/* reopened after a failure: DEGRADED until a delivery goes through */
			if (r->link)
				cps_link_set_state(r->link, r->failing ? CPS_LINK_DEGRADED
				                                       : CPS_LINK_RUNNING);
			cps_sink_serve_replay(r, &last_flush);
			rc = run_batch(r, &last_flush, err, sizeof(err));
		}
		if (rc == CPS_OK)
			continue;
		r->failing = true;
		/* a refusal found by a flush of several polls' records: after the
		 * reopen, the next poll is delivered record by record */
		if (is_refusal(rc))
			r->isolate = true;
		stat_add(r, &r->stats.failures, 1);
		r->n_pending = 0; /* not committed: Kafka delivers them again */
		r->unflushed = 0;
		cps_sink_guard_forget(r);
		cps_sink_refuse_replay(r, err);
		cps_log_warn(FACILITY, "sink '%s': %s; reopening", r->platform, err);
		if (r->link) {
			cps_link_set_state(r->link, CPS_LINK_FAILED);
			atomic_fetch_add(&r->link->errors, 1);
			if (r->status)
				cps_link_set_error(r->status, r->link, err);
		}
		close_sides(r);
		for (int64_t until = cps_mono_ms() + BACKOFF_MS;
		     cps_mono_ms() < until && !atomic_load(&r->stop);)
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	if (r->sink) {
		/* deliver what was accepted; the offsets of an unflushed batch
		 * were never committed anyway */
		cps_sink_flush(r->sink, 5000, err, sizeof(err));
	}
	close_sides(r);
	cps_sink_refuse_replay(r, "the sink is stopping");
	return NULL;
}

static void runner_free(struct cps_sink_runner *r)
{
	if (!r)
		return;
	close_sides(r);
	for (size_t i = 0; r->out && i < r->batch_max; i++)
		cps_buf_release(&r->out[i].value);
	cps_arena_release(&r->scratch);
	cps_arena_release(&r->values);
	cps_arena_release(&r->written_keys);
	free(r->pending);
	free(r->written);
	free(r->guard_slots);
	for (int i = 0; i < CPS_N_ENTITIES; i++)
		free(r->allow[i]);
	cps_unified_free(r->unified);
	cps_store_close(r->store);
	free(r->store_conninfo);
	cps_settings_release(&r->sink_settings);
	cps_settings_release(&r->source_settings);
	pthread_mutex_destroy(&r->stats_lock);
	pthread_mutex_destroy(&r->replay_lock);
	pthread_cond_destroy(&r->replay_cond);
	free(r);
}

int cps_sink_runner_start(const struct cps_sink_runner_conf *conf, struct cps_sink_runner **out,
                          char *errstr, size_t errstr_size)
{
	struct cps_sink_runner *r;
	struct cps_unified_conf uc = {0};
	char err[CPS_ERRSTR_SIZE];
	bool standby;
	int rc;

	*out = NULL;
	if (!conf->platform || strlen(conf->platform) >= CPS_PLATFORM_MAX || !conf->ops ||
	    !conf->catalog || !conf->bootstrap)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "sink runner: platform, connector, catalog and bootstrap are required");
	r = calloc(1, sizeof(*r));
	if (!r)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&r->stats_lock, NULL);
	pthread_mutex_init(&r->replay_lock, NULL);
	pthread_cond_init(&r->replay_cond, NULL);
	atomic_init(&r->stop, false);
	cps_pause_init(&r->pause, conf->start_paused, NULL, NULL);
	atomic_init(&r->restart, false);
	atomic_init(&r->restarts, 0);
	snprintf(r->platform, sizeof(r->platform), "%s", conf->platform);
	r->ops = conf->ops;
	r->format = cps_sink_format_for(conf->ops->type);
	r->catalog = conf->catalog;
	r->registry = conf->registry;
	r->status = conf->status;
	r->link = conf->link;
	r->batch_max = conf->batch_max ? conf->batch_max : 500;
	r->poll_ms = conf->poll_ms > 0 ? conf->poll_ms : 200;
	snprintf(r->link_name, sizeof(r->link_name), "%s-sink", r->platform);
	r->retry_attempts = conf->retry_attempts > 0 ? conf->retry_attempts : 3;
	r->retry_backoff_ms = conf->retry_backoff_ms > 0 ? conf->retry_backoff_ms : 200;
	r->retry_backoff_max_ms =
	    conf->retry_backoff_max_ms > 0 ? conf->retry_backoff_max_ms : 10000;
	if (r->retry_backoff_max_ms < r->retry_backoff_ms)
		r->retry_backoff_max_ms = r->retry_backoff_ms;
	r->jitter = (uint64_t)cps_wall_ms() ^ (uint64_t)(uintptr_t)r ^ 0x9e3779b97f4a7c15ull;
	cps_settings_init(&r->sink_settings);
	cps_settings_init(&r->source_settings);
	cps_arena_init(&r->scratch, 0);
	cps_arena_init(&r->values, 0);
	cps_arena_init(&r->written_keys, 0);
	rc = cps_sink_split_settings(r, conf, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	if (conf->store_conninfo && !(r->store_conninfo = strdup(conf->store_conninfo)))
		goto out_oom;
	r->out = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->out));
	r->recs = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->recs));
	r->events = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->events));
	r->entity_of = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->entity_of));
	r->refs = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->refs));
	r->out_of = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->out_of));
	r->last_written = cps_arena_calloc(&r->scratch, r->batch_max, sizeof(*r->last_written));
	if (!r->out || !r->recs || !r->events || !r->entity_of || !r->refs || !r->out_of ||
	    !r->last_written)
		goto out_oom;
	for (size_t i = 0; i < r->batch_max; i++)
		cps_buf_init(&r->out[i].value, 0);
	uc.catalog = conf->catalog;
	uc.framing = CPS_FRAMING_CONFLUENT;
	uc.registry = conf->registry;
	uc.topic_prefix = conf->topic_prefix;
	rc = cps_unified_new(&uc, &r->unified, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_seterr(rc, errstr, errstr_size, "sink '%s': %s", r->platform, err);
		goto out_free;
	}
	/* open once here so that a bad setting fails the start; standing by
	 * for another instance's writer is no failure */
	rc = open_sides(r, err, sizeof(err));
	standby = rc == CPS_CONN_STANDBY;
	if (rc != CPS_OK && !standby) {
		cps_seterr(rc, errstr, errstr_size, "platform '%s' sink: %s", r->platform, err);
		goto out_free;
	}
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "sink '%s': cannot start its thread", r->platform);
		goto out_free;
	}
	r->started = true;
	if (r->link)
		cps_link_set_state(r->link, conf->start_paused ? CPS_LINK_PAUSED
		                            : standby          ? CPS_LINK_STANDBY
		                                               : CPS_LINK_RUNNING);
	*out = r;
	return CPS_OK;

out_oom:
	rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
out_free:
	runner_free(r);
	return rc;
}

void cps_sink_runner_stop(struct cps_sink_runner *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->started)
		pthread_join(r->thread, NULL);
	if (r->link)
		cps_link_set_state(r->link, CPS_LINK_STOPPED);
	runner_free(r);
}
