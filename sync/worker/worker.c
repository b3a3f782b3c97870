/*
 * Reconcile worker threads: a Kafka consumer (one group) on the ingest topic
 * whose partitions are assigned at the offsets stored in PostgreSQL; each
 * batch is decoded, grouped by key, applied by reconcile.c and committed by
 * store_commit_batch with its next offsets in one transaction. A store error
 * re-applies the same batch from freshly loaded states; nothing is applied
 * twice, nothing skipped (undecodable messages become dead letters).
 */
#include "worker/worker.h"
#include "base/clock.h"

#include "kafka/broker.h"
#include "base/common.h"
#include "config/config.h"
#include "model/event.h"
#include "base/log.h"
#include "observe/metrics.h"
#include "reconcile/reconcile.h"
#include "store/store.h"
#include "reconcile/unified.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FAC            "RECONCILE"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct worker {
	struct cps_workers *pool;
	int idx;
	pthread_t thread;
	int started;
	rd_kafka_t *rk;
	struct cps_store *store;
	struct cps_event_codec *ec;
	struct cps_unified *uni;
	int revoked; /* set by the rebalance callback: drop the batch being collected */
	int joined;  /* has had its first assignment (possibly empty) */
};

struct cps_workers {
	struct cps_worker_conf conf; /* strings below are our copies */
	struct cps_settings props;
	atomic_int stop;
	int n;
	struct worker *w;
	atomic_llong batches, events, emitted, dead_letters, conflicts, retries;
	atomic_int joined; /* workers that have had their first assignment */
};

static int stopping(struct worker *w)
{
	return atomic_load(&w->pool->stop);
}

/* Sleeps `ms` in short steps, returning early when stopping. */
static void nap(struct worker *w, int ms)
{
	while (ms > 0 && !stopping(w)) {
		int step = ms > 50 ? 50 : ms;

		usleep((useconds_t)step * 1000);
		ms -= step;
	}
}

static void fail(struct worker *w, const char *what, const char *err)
{
	struct cps_workers *p = w->pool;
	char msg[CPS_ERRSTR_SIZE + 64];

	snprintf(msg, sizeof(msg), "worker %d: %s: %s", w->idx, what, err);
	cps_log_warn(FAC, "%s", msg);
	if (p->conf.link) {
		atomic_fetch_add(&p->conf.link->errors, 1);
		cps_link_set_state(p->conf.link, CPS_LINK_FAILED);
		if (p->conf.status)
			cps_link_set_error(p->conf.status, p->conf.link, msg);
	}
}

/* Opens the worker's store connection, retrying until it works or stop. */
static int store_ready(struct worker *w)
{
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS;

	while (!w->store && !stopping(w)) {
		if (cps_store_open(w->pool->conf.conninfo, &w->store, errstr, sizeof(errstr)) ==
		    CPS_OK)
			break;
		w->store = NULL;
		fail(w, "store", errstr);
		nap(w, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return w->store ? CPS_OK : CPS_ERR_RETRIABLE;
}

static void store_drop(struct worker *w)
{
	cps_store_close(w->store);
	w->store = NULL;
}

/* ---- rebalance: assign at the stored offsets ------------------------------ */

static int assign_stored(struct worker *w, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS;
	int n = parts->cnt;
	int32_t *pn = calloc((size_t)n + 1, sizeof(*pn));
	int64_t *off = calloc((size_t)n + 1, sizeof(*off));
	int loaded = 0;

	if (!pn || !off)
		goto cleanup;
	for (int i = 0; i < n; i++)
		pn[i] = parts->elems[i].partition;
	while (!loaded && !stopping(w)) {
		if (store_ready(w) != CPS_OK)
			break;
		/* All partitions are of the one ingest topic we subscribe to. */
		if (cps_store_load_offsets(w->store, w->pool->conf.ingest_topic, pn, off, (size_t)n,
		                           errstr, sizeof(errstr)) == CPS_OK) {
			loaded = 1;
			break;
		}
		fail(w, "loading the stored offsets", errstr);
		store_drop(w);
		nap(w, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	if (!loaded)
		goto cleanup;
	for (int i = 0; i < n; i++)
		parts->elems[i].offset = off[i] >= 0 ? off[i] : RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	cps_log_info(FAC, "worker %d assigned %d partition(s) of %s at the stored offsets", w->idx,
	             n, w->pool->conf.ingest_topic);
cleanup:
	free(pn);
	free(off);
	return loaded ? CPS_OK : CPS_ERR_RETRIABLE;
}

/* Ready when idle: the link is RUNNING once every worker has joined the
 * group and holds its assignment, or none because another instance does. */
static void joined(struct worker *w)
{
	struct cps_workers *p = w->pool;

	if (w->joined)
		return;
	w->joined = 1;
	if (atomic_fetch_add(&p->joined, 1) + 1 == p->n && p->conf.link)
		cps_link_set_state(p->conf.link, CPS_LINK_RUNNING);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct worker *w = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		w->revoked = 1; /* anything collected before is from an older assignment */
		if (assign_stored(w, rk, parts) == CPS_OK)
			joined(w);
	} else {
		w->revoked = 1;
		rd_kafka_assign(rk, NULL);
	}
}

/* ---- one batch -------------------------------------------------------------- */

struct item {
	rd_kafka_message_t *m;
	struct cps_ingest_event ev;
	int ok;       /* decoded */
	int skip;     /* dead-lettered (undecodable, or refused by reconcile/encode) */
	char *reason; /* why, for the dead letter */
	char origin[256];
	size_t state; /* index in the attempt's states */
};

/* What one attempt builds; everything borrowed by the store batch is owned
 * here (JSON references in `keep`). */
struct attempt {
	struct cps_key_state **states;
	size_t n_states;
	struct cps_store_emit *emits;
	size_t n_emits;
	struct cps_store_conflict *conflicts;
	size_t n_conflicts, cap_conflicts;
	struct cps_store_audit *audits;
	size_t n_audits, cap_audits;
	uint8_t **payloads;
	json_t *keep;
	json_t *index; /* "entity/key" -> state index */
};

static void attempt_release(struct attempt *a)
{
	for (size_t i = 0; i < a->n_states; i++) {
		cps_key_state_release(a->states[i]);
		free(a->states[i]);
	}
	for (size_t i = 0; i < a->n_emits; i++)
		free(a->payloads[i]);
	free(a->states);
	free(a->emits);
	free(a->payloads);
	free(a->conflicts);
	free(a->audits);
	json_decref(a->keep);
	json_decref(a->index);
	memset(a, 0, sizeof(*a));
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	void *p;
	size_t nc;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	while (nc < need)
		nc *= 2;
	p = realloc(*arr, nc * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

static const char *kept_string(struct attempt *a, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return NULL;
	json_array_append(a->keep, obj);
	return json_string_value(v);
}

/* Conflict rows and audit entries of one outcome. */
static int add_conflicts(struct attempt *a, const struct cps_key_state *st,
                         const struct cps_reconcile_outcome *o, int64_t *opened)
{
	struct {
		json_t *list;
		enum cps_conflict_change_kind kind;
	} groups[] = {{o->opened, CPS_CONFLICT_OPEN},
	              {o->updated, CPS_CONFLICT_UPDATE},
	              {o->closed, CPS_CONFLICT_CLOSE}};

	for (size_t g = 0; g < CPS_ARRAY_SIZE(groups); g++) {
		size_t i;
		json_t *c;

		json_array_foreach(groups[g].list, i, c)
		{
			struct cps_store_conflict *sc;
			struct cps_store_audit *au;
			const char *how;

			if (grow((void **)&a->conflicts, &a->cap_conflicts, a->n_conflicts + 1,
			         sizeof(*a->conflicts)) ||
			    grow((void **)&a->audits, &a->cap_audits, a->n_audits + 1,
			         sizeof(*a->audits)))
				return CPS_ERR_FATAL;
			sc = &a->conflicts[a->n_conflicts++];
			memset(sc, 0, sizeof(*sc));
			sc->kind = groups[g].kind;
			sc->entity = st->entity;
			sc->key = st->key;
			sc->field = kept_string(a, c, "field");
			sc->candidates = json_object_get(c, "candidates");
			sc->rule = kept_string(a, c, "rule");
			how = kept_string(a, c, "how");
			sc->how = how ? how : "auto";
			au = &a->audits[a->n_audits++];
			memset(au, 0, sizeof(*au));
			au->actor = "cpsync";
			au->entity = st->entity;
			au->key = st->key;
			au->field = sc->field;
			switch (sc->kind) {
			case CPS_CONFLICT_OPEN:
				au->action = "conflict.opened";
				au->after = sc->candidates;
				(*opened)++;
				break;
			case CPS_CONFLICT_UPDATE:
				au->action = "conflict.updated";
				au->after = sc->candidates;
				break;
			case CPS_CONFLICT_CLOSE:
				au->action = !strcmp(sc->how, "auto")       ? "conflict.auto_closed"
				             : !strcmp(sc->how, "resolved") ? "conflict.resolved"
				                                            : "conflict.dismissed";
				break;
			}
		}
	}
	return CPS_OK;
}

static int item_refuse(struct item *it, const char *why)
{
	it->skip = 1;
	free(it->reason);
	it->reason = strdup(why);
	return it->reason ? CPS_OK : CPS_ERR_FATAL;
}

/* Loads states and applies every event in order. CPS_OK: the attempt is
 * ready to commit; CPS_ERR_INVALID: an event was refused (marked skip), redo;
 * else a store (or memory) error. */
static int attempt_build(struct worker *w, struct item *items, size_t n, struct attempt *a,
                         int64_t *opened, char *errstr, size_t errstr_size)
{
	struct cps_workers *p = w->pool;
	size_t cap_states = 0, cap_emits = 0;
	int64_t now = cps_wall_ms();
	struct cps_buf buf;
	int rc = CPS_OK;

	a->keep = json_array();
	a->index = json_object();
	cps_buf_init(&buf, 0);
	if (!a->keep || !a->index)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char k[CPS_NAME_MAX + 2048];
		json_t *idx;

		if (!items[i].ok || items[i].skip)
			continue;
		snprintf(k, sizeof(k), "%s/%s", items[i].ev.entity, items[i].ev.key);
		idx = json_object_get(a->index, k);
		if (idx) {
			items[i].state = (size_t)json_integer_value(idx);
			continue;
		}
		if (grow((void **)&a->states, &cap_states, a->n_states + 1, sizeof(*a->states)))
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		a->states[a->n_states] = calloc(1, sizeof(struct cps_key_state));
		if (!a->states[a->n_states])
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (cps_key_state_init(a->states[a->n_states], items[i].ev.entity,
		                       items[i].ev.key) != CPS_OK) {
			free(a->states[a->n_states]);
			a->states[a->n_states] = NULL;
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		items[i].state = a->n_states++;
		json_object_set_new(a->index, k, json_integer((json_int_t)items[i].state));
	}
	if (a->n_states) {
		rc = cps_store_load_states(w->store, a->states, a->n_states, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct cps_reconcile_outcome o;
		struct cps_key_state *st;
		struct cps_store_emit *e;
		char why[CPS_ERRSTR_SIZE];

		if (!items[i].ok || items[i].skip)
			continue;
		st = a->states[items[i].state];
		cps_reconcile_outcome_init(&o);
		rc = cps_reconcile_apply(p->conf.rules, st, &items[i].ev, &o, why, sizeof(why));
		if (rc != CPS_OK) {
			cps_reconcile_outcome_release(&o);
			if (item_refuse(&items[i], why) != CPS_OK)
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                       "out of memory");
			cps_log_warn(FAC, "dead-lettered %s: %s", items[i].origin, why);
			rc = CPS_ERR_INVALID;
			goto out;
		}
		if (o.changed) {
			cps_buf_reset(&buf);
			rc = cps_unified_encode(w->uni, st, &o, now, &buf, why, sizeof(why));
			if (rc != CPS_OK) {
				cps_reconcile_outcome_release(&o);
				if (item_refuse(&items[i], why) != CPS_OK)
					return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
					                       "out of memory");
				cps_log_error(FAC, "dead-lettered %s: unified event: %s",
				              items[i].origin, why);
				rc = CPS_ERR_INVALID;
				goto out;
			}
			if (grow((void **)&a->emits, &cap_emits, a->n_emits + 1,
			         sizeof(*a->emits))) {
				rc = CPS_ERR_FATAL;
				goto oom;
			}
			/* the payload array grows along with emits */
			{
				uint8_t **pp = realloc(a->payloads, cap_emits * sizeof(*pp));

				if (!pp) {
					rc = CPS_ERR_FATAL;
					goto oom;
				}
				a->payloads = pp;
			}
			a->payloads[a->n_emits] = malloc(buf.len ? buf.len : 1);
			if (!a->payloads[a->n_emits]) {
				rc = CPS_ERR_FATAL;
				goto oom;
			}
			memcpy(a->payloads[a->n_emits], buf.data, buf.len);
			e = &a->emits[a->n_emits++];
			memset(e, 0, sizeof(*e));
			e->entity = st->entity;
			e->key = st->key;
			e->version = o.version;
			e->op = o.op;
			/* Snapshots: later events of the batch change the state. */
			e->record = o.op == CPS_OP_DELETE || json_is_null(st->record)
			                ? NULL
			                : json_deep_copy(st->record);
			e->provenance = json_deep_copy(st->provenance);
			e->changed_fields = o.changed_fields;
			json_array_append(a->keep, o.changed_fields);
			json_array_append_new(a->keep, e->record ? e->record : json_null());
			json_array_append_new(a->keep, e->provenance ? e->provenance : json_null());
			{
				json_t *topic =
				    json_sprintf("%s%s", p->conf.unified_topic_prefix, st->entity);

				e->topic = json_string_value(topic);
				json_array_append_new(a->keep, topic);
			}
			e->payload = a->payloads[a->n_emits - 1];
			e->payload_len = buf.len;
		}
		json_array_append(a->keep, o.opened);
		json_array_append(a->keep, o.updated);
		json_array_append(a->keep, o.closed);
		rc = add_conflicts(a, st, &o, opened);
		cps_reconcile_outcome_release(&o);
		if (rc != CPS_OK)
			goto oom;
		continue;
	oom:
		cps_reconcile_outcome_release(&o);
		cps_buf_release(&buf);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
out:
	cps_buf_release(&buf);
	return rc;
}

static int add_dead_letters(struct worker *w, struct item *items, size_t n, char *errstr,
                            size_t errstr_size)
{
	struct cps_dead_letter *dl = calloc(n, sizeof(*dl));
	size_t k = 0;
	int64_t now = cps_wall_ms();
	int rc;

	if (!dl)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!items[i].skip)
			continue;
		dl[k].platform =
		    items[i].ok && items[i].ev.platform[0] ? items[i].ev.platform : "ingest";
		dl[k].origin = items[i].origin;
		dl[k].entity = items[i].ok && items[i].ev.entity[0] ? items[i].ev.entity : NULL;
		dl[k].reason = items[i].reason ? items[i].reason : "refused";
		dl[k].raw = items[i].m->payload;
		dl[k].raw_len = items[i].m->len;
		dl[k].raw_key = items[i].m->key;
		dl[k].raw_key_len = items[i].m->key_len;
		dl[k].received_ms = now;
		k++;
	}
	rc = k ? cps_store_add_dead_letters(w->store, dl, k, errstr, errstr_size) : CPS_OK;
	free(dl);
	return rc;
}

/* Next offsets of the batch's partitions, each with the fingerprint of the
 * message before it (the ingest topic's identity, ingest_topic.h). */
static size_t batch_offsets(struct cps_workers *p, struct item *items, size_t n,
                            struct cps_store_offset *offs)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int32_t part = items[i].m->partition;
		int64_t next = items[i].m->offset + 1;
		size_t j;

		for (j = 0; j < k; j++)
			if (offs[j].partition == part)
				break;
		if (j == k) {
			offs[k].topic = p->conf.ingest_topic;
			offs[k].partition = part;
			offs[k].next_offset = next;
			k++;
		} else if (next > offs[j].next_offset) {
			offs[j].next_offset = next;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = items[i].m;

		for (size_t j = 0; j < k; j++)
			if (offs[j].partition == m->partition &&
			    offs[j].next_offset == m->offset + 1)
				offs[j].last_fingerprint =
				    cps_ingest_fingerprint(m->key, m->key_len, m->payload, m->len);
	}
	return k;
}

static void kafka_commit_for_lag(struct worker *w, const struct cps_store_offset *offs, size_t k)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k);

	if (!l)
		return;
	for (size_t i = 0; i < k; i++)
		rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition)->offset =
		    offs[i].next_offset;
	rd_kafka_commit(w->rk, l, 1); /* async, informational only */
	rd_kafka_topic_partition_list_destroy(l);
}

static void process_batch(struct worker *w, rd_kafka_message_t **msgs, size_t n)
{
	struct cps_workers *p = w->pool;
	struct item *items = calloc(n, sizeof(*items));
	struct cps_store_offset *offs = calloc(n, sizeof(*offs));
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS, rc, attempts = 0;
	size_t n_offs, n_dead = 0;
	int64_t newest_eff = 0, opened = 0;
	struct attempt a;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(&a, 0, sizeof(a));
	if (!items || !offs) {
		fail(w, "batch", "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];

		it->m = msgs[i];
		snprintf(it->origin, sizeof(it->origin), "ingest:%s/%" PRId32 "@%" PRId64,
		         rd_kafka_topic_name(it->m->rkt), it->m->partition, it->m->offset);
		if (cps_ingest_event_decode(w->ec, it->m->payload, it->m->len, &it->ev, errstr,
		                            sizeof(errstr)) != CPS_OK) {
			cps_log_warn(FAC, "dead-lettered %s: %s", it->origin, errstr);
			item_refuse(it, errstr);
			continue;
		}
		it->ok = 1;
		if (it->ev.effective_ms > newest_eff)
			newest_eff = it->ev.effective_ms;
	}
	n_offs = batch_offsets(p, items, n, offs);

	for (;;) {
		if (stopping(w))
			goto cleanup; /* not committed: the events stay after the stored offsets */
		if (store_ready(w) != CPS_OK)
			goto cleanup;
		attempts++;
		opened = 0;
		rc = attempt_build(w, items, n, &a, &opened, errstr, sizeof(errstr));
		if (rc == CPS_ERR_INVALID) {
			/* An event was refused: apply the batch again without it. */
			attempt_release(&a);
			continue;
		}
		if (rc == CPS_OK)
			rc = add_dead_letters(w, items, n, errstr, sizeof(errstr));
		if (rc == CPS_OK) {
			struct cps_store_batch b = {
			    .states = a.states,
			    .n_states = a.n_states,
			    .emits = a.emits,
			    .n_emits = a.n_emits,
			    .conflicts = a.conflicts,
			    .n_conflicts = a.n_conflicts,
			    .audits = a.audits,
			    .n_audits = a.n_audits,
			    .offsets = offs,
			    .n_offsets = n_offs,
			};

			rc = cps_store_commit_batch(w->store, &b, errstr, sizeof(errstr));
		}
		if (rc == CPS_OK)
			break;
		/* States were not committed: reload them and apply the SAME batch. */
		attempt_release(&a);
		fail(w, "batch", errstr);
		atomic_fetch_add(&p->retries, 1);
		if (rc == CPS_ERR_RETRIABLE || cps_store_ping(w->store, errstr, sizeof(errstr)))
			store_drop(w);
		nap(w, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	for (size_t i = 0; i < n; i++)
		n_dead += items[i].skip != 0;
	atomic_fetch_add(&p->batches, 1);
	atomic_fetch_add(&p->events, (long long)n);
	atomic_fetch_add(&p->emitted, (long long)a.n_emits);
	atomic_fetch_add(&p->dead_letters, (long long)n_dead);
	atomic_fetch_add(&p->conflicts, (long long)opened);
	cps_histogram_observe_since(&cps_hist_reconcile_batch, &start); /* committed batches */
	if (p->conf.link) {
		struct cps_link *l = p->conf.link;
		int64_t prev = atomic_load(&l->newest_effective_ms);

		atomic_fetch_add(&l->records, (int64_t)(n - n_dead));
		atomic_fetch_add(&l->dead_letters, (int64_t)n_dead);
		atomic_store(&l->last_success_ms, cps_wall_ms());
		while (newest_eff > prev &&
		       !atomic_compare_exchange_weak(&l->newest_effective_ms, &prev, newest_eff))
			;
		if (atomic_load(&l->state) != CPS_LINK_RUNNING)
			cps_link_set_state(l, CPS_LINK_RUNNING);
	}
	cps_log_debug(CPS_DBG_RECONCILE, FAC,
	              "worker %d committed %zu event(s), %zu version(s), %zu dead letter(s)",
	              w->idx, n, a.n_emits, n_dead);
	if (a.n_emits)
		cps_publisher_wake(p->conf.publisher);
	kafka_commit_for_lag(w, offs, n_offs);
cleanup:
	attempt_release(&a);
	for (size_t i = 0; items && i < n; i++) {
		if (items[i].ok)
			cps_ingest_event_release(&items[i].ev);
		free(items[i].reason);
	}
	free(items);
	free(offs);
}

/* ---- the thread --------------------------------------------------------------- */

static void drop_msgs(rd_kafka_message_t **msgs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		rd_kafka_message_destroy(msgs[i]);
	*n = 0;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct cps_workers *p = w->pool;
	size_t cap = p->conf.batch_size ? p->conf.batch_size : 1000;
	rd_kafka_message_t **msgs = calloc(cap, sizeof(*msgs));
	size_t n = 0;

	if (!msgs) {
		fail(w, "batch", "out of memory");
		return NULL;
	}
	/* stored offsets of an older incarnation of the topic are not to be trusted */
	while (!cps_ingest_topic_verified(p->conf.identity) && !stopping(w))
		nap(w, 50);
	store_ready(w);
	while (!stopping(w)) {
		int64_t deadline = 0;

		w->revoked = 0;
		while (n < cap && !stopping(w)) {
			int timeout = 100;
			rd_kafka_message_t *m;

			if (n) {
				int64_t left = deadline - cps_mono_ms();

				if (left <= 0)
					break;
				timeout = left < 100 ? (int)left : 100;
			}
			m = rd_kafka_consumer_poll(w->rk, timeout);
			if (w->revoked) {
				/* A rebalance: what was collected belongs to the old
				 * assignment; the new one starts at the stored offsets. */
				drop_msgs(msgs, &n);
				w->revoked = 0;
			}
			if (!m)
				continue;
			if (m->err) {
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					cps_log_warn(FAC, "worker %d: consume: %s", w->idx,
					             rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				continue;
			}
			if (!n)
				deadline = cps_mono_ms() + p->conf.batch_ms;
			msgs[n++] = m;
		}
		if (n && !stopping(w))
			process_batch(w, msgs, n);
		drop_msgs(msgs, &n);
	}
	drop_msgs(msgs, &n);
	free(msgs);
	return NULL;
}

/* ---- start and stop ---------------------------------------------------------- */

static int consumer_new(struct worker *w, char *errstr, size_t errstr_size)
{
	struct cps_workers *p = w->pool;
	const char *fixed[][2] = {{"group.id", p->conf.group_id},
	                          {"enable.auto.commit", "false"},
	                          {"enable.auto.offset.store", "false"},
	                          {"auto.offset.reset", "earliest"},
	                          {"enable.partition.eof", "false"}};
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_conf_t *conf = cps_kafka_conf_new_for(CPS_KAFKA_CONSUMER, p->conf.bootstrap,
	                                               &p->props, errstr, errstr_size);
	char kerr[512];
	rd_kafka_resp_err_t err;

	if (!conf)
		return CPS_ERR_FATAL;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(fixed); i++)
		if (cps_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, errstr_size) !=
		    CPS_OK) {
			rd_kafka_conf_destroy(conf);
			return CPS_ERR_FATAL;
		}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_opaque(conf, w);
	w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
	if (!w->rk) {
		rd_kafka_conf_destroy(conf);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "cannot create the ingest consumer: %s", kerr);
	}
	rd_kafka_poll_set_consumer(w->rk);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, p->conf.ingest_topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(w->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "cannot subscribe to %s: %s", p->conf.ingest_topic,
		                       rd_kafka_err2str(err));
	return CPS_OK;
}

static void workers_free(struct cps_workers *p)
{
	for (int i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (w->rk) {
			rd_kafka_consumer_close(w->rk); /* revokes through on_rebalance */
			rd_kafka_destroy(w->rk);
		}
		cps_store_close(w->store);
		cps_unified_free(w->uni);
		cps_event_codec_free(w->ec);
	}
	free(p->w);
	cps_settings_release(&p->props);
	free((char *)p->conf.bootstrap);
	free((char *)p->conf.ingest_topic);
	free((char *)p->conf.group_id);
	free((char *)p->conf.unified_topic_prefix);
	free((char *)p->conf.conninfo);
	free(p);
}

int cps_workers_start(const struct cps_worker_conf *conf, struct cps_workers **out, char *errstr,
                      size_t errstr_size)
{
	struct cps_workers *p;
	int rc = CPS_OK;

	*out = NULL;
	if (!conf || !conf->bootstrap || !conf->conninfo || !conf->catalog || !conf->rules ||
	    conf->workers < 1)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "reconcile workers need a bootstrap, a store, a catalog, "
		                       "rules and at least one worker");
	p = calloc(1, sizeof(*p));
	if (!p)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	p->conf = *conf;
	cps_settings_init(&p->props);
	p->conf.bootstrap = strdup(conf->bootstrap);
	p->conf.ingest_topic = strdup(conf->ingest_topic ? conf->ingest_topic : "cpsync.ingest");
	p->conf.group_id = strdup(conf->group_id ? conf->group_id : "cpsync-reconcile");
	p->conf.unified_topic_prefix =
	    strdup(conf->unified_topic_prefix ? conf->unified_topic_prefix : "cpsync.unified.");
	p->conf.conninfo = strdup(conf->conninfo);
	p->conf.kafka_properties = NULL;
	if (!p->conf.batch_size)
		p->conf.batch_size = 1000;
	if (p->conf.batch_ms <= 0)
		p->conf.batch_ms = 50;
	if (p->conf.unified_framing == CPS_FRAMING_RAW)
		p->conf.unified_framing = CPS_FRAMING_CONFLUENT;
	p->w = calloc((size_t)conf->workers, sizeof(*p->w));
	if (!p->w || !p->conf.bootstrap || !p->conf.ingest_topic || !p->conf.group_id ||
	    !p->conf.unified_topic_prefix || !p->conf.conninfo ||
	    (conf->kafka_properties && cps_settings_copy(&p->props, conf->kafka_properties))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	p->n = conf->workers;
	for (int i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		struct cps_unified_conf uc = {
		    .catalog = p->conf.catalog,
		    .framing = p->conf.unified_framing,
		    .registry = p->conf.registry,
		    .topic_prefix = p->conf.unified_topic_prefix,
		};

		w->pool = p;
		w->idx = i;
		rc = cps_event_codec_new(p->conf.catalog, &w->ec, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = cps_unified_new(&uc, &w->uni, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = consumer_new(w, errstr, errstr_size);
		if (rc != CPS_OK)
			goto fail;
	}
	if (p->conf.link)
		cps_link_set_state(p->conf.link, CPS_LINK_STARTING);
	for (int i = 0; i < p->n; i++) {
		if (pthread_create(&p->w[i].thread, NULL, run, &p->w[i]) != 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                     "cannot start reconcile worker %d", i);
			goto fail;
		}
		p->w[i].started = 1;
	}
	*out = p;
	return CPS_OK;
fail:
	atomic_store(&p->stop, 1);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	workers_free(p);
	return rc;
}

void cps_workers_stop(struct cps_workers *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	if (p->conf.link)
		cps_link_set_state(p->conf.link, CPS_LINK_STOPPED);
	workers_free(p);
}

void cps_workers_get_stats(struct cps_workers *p, struct cps_worker_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->batches = atomic_load(&p->batches);
	out->events = atomic_load(&p->events);
	out->emitted = atomic_load(&p->emitted);
	out->dead_letters = atomic_load(&p->dead_letters);
	out->conflicts = atomic_load(&p->conflicts);
	out->retries = atomic_load(&p->retries);
}

void cps_worker_conf_from_config(const struct cps_config *cfg, struct cps_worker_conf *conf)
{
	conf->ingest_topic = cps_config_get_string(cfg, "kafka.ingest_topic");
	conf->group_id = cps_config_get_string(cfg, "kafka.group_id");
	conf->unified_topic_prefix = cps_config_get_string(cfg, "kafka.unified_topic_prefix");
	conf->conninfo = cps_config_get_string(cfg, "store.conninfo");
	conf->workers = (int)cps_config_get_int(cfg, "reconcile.workers");
	conf->batch_size = (size_t)cps_config_get_int(cfg, "store.batch_size");
	conf->batch_ms = (int)cps_config_get_int(cfg, "store.batch_ms");
}

void cps_workers_stop_stats(struct cps_workers *p, struct cps_worker_stats *out)
{
	if (!p) {
		memset(out, 0, sizeof(*out));
		return;
	}
	atomic_store(&p->stop, 1);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started) {
			pthread_join(p->w[i].thread, NULL);
			p->w[i].started = 0;
		}
	cps_workers_get_stats(p, out);
	cps_workers_stop(p);
}
