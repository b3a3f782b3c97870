/*
 * The publisher thread: the change log after its cursor (in log order) →
 * the idempotent Kafka producer → flush until every row is acknowledged →
 * move the cursor past the rows delivered without a gap → repeat. From the
 * first row Kafka did not take, everything goes again, in order, with
 * backoff; a crash between ack and cursor re-publishes too (consumers drop
 * duplicates by key and version). Nothing is deleted: the log is history.
 */
#include "publish/publish.h"
#include "base/clock.h"

#include "kafka/broker.h"
#include "base/common.h"
#include "config/config.h"
#include "base/log.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAC            "PUBLISH"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* An empty change log is asked again after this long. A worker of this
 * process wakes the publisher at each commit (cps_publisher_wake), so this
 * bounds only the wait for changes committed by another instance's workers. */
#define IDLE_WAIT_MS 20
/* Retention runs this often, in slices, so one run never holds the log long. */
#define PRUNE_EVERY_MS 60000
#define PRUNE_SLICE    10000
/* One publisher across instances: two would send the same versions twice and
 * could interleave one key's versions out of order. */
#define LEADER_LOCK "cpsync.publisher"

struct cps_publisher {
	char *bootstrap;
	char *conninfo;
	struct cps_settings props;
	size_t batch;
	struct cps_status *status;
	struct cps_link *link;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int woken; /* under mu */
	atomic_int stop;
	struct cps_pause pause; /* nothing goes out; the lock is kept */
	atomic_bool restart;    /* cps_publisher_restart: drop the producer and the session */
	atomic_llong restarts;

	struct cps_store *store;
	bool leading; /* holds LEADER_LOCK on `store`'s session */
	int leader_retry_ms;
	int64_t retention_ms;                /* 0: keep the history for ever */
	int64_t retain_ms[CPS_RETAIN_KINDS]; /* the other retentions; 0: keep */
	int64_t next_prune_ms;
	rd_kafka_t *rk;

	atomic_llong published, errors, pending;
};

/* Sleeps up to `ms` or until woken or stopped. */
static void wait_wake(struct cps_publisher *p, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	while (!p->woken && !atomic_load(&p->stop))
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
			break;
	p->woken = 0;
	pthread_mutex_unlock(&p->mu);
}

void cps_publisher_wake(struct cps_publisher *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->woken = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void fail(struct cps_publisher *p, const char *what, const char *err)
{
	char msg[CPS_ERRSTR_SIZE + 64];

	atomic_fetch_add(&p->errors, 1);
	snprintf(msg, sizeof(msg), "%s: %s", what, err);
	cps_log_warn(FAC, "%s", msg);
	if (p->link) {
		atomic_fetch_add(&p->link->errors, 1);
		cps_link_set_state(p->link, CPS_LINK_FAILED);
		if (p->status)
			cps_link_set_error(p->status, p->link, msg);
	}
}

/* Delivery report: the message opaque points at the row's status slot. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	signed char *slot = m->_private;

	if (slot)
		*slot = m->err ? -1 : 1;
}

static int producer_new(struct cps_publisher *p, char *errstr, size_t errstr_size)
{
	/* linger.ms: the client's latency default (kafka/client.h), which
	 * kafka.producer.linger.ms overrides */
	static const char *const fixed[][2] = {{"acks", "all"}, {"enable.idempotence", "true"}};
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new_with(CPS_KAFKA_PRODUCER, p->bootstrap, &p->props, fixed,
	                            CPS_ARRAY_SIZE(fixed), errstr, errstr_size);

	if (!conf)
		return CPS_ERR_FATAL;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	p->rk = cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "producer", errstr, errstr_size);
	return p->rk ? CPS_OK : CPS_ERR_FATAL;
}

static void producer_drop(struct cps_publisher *p)
{
	if (!p->rk)
		return;
	rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_flush(p->rk, 1000);
	rd_kafka_destroy(p->rk);
	p->rk = NULL;
}

/* Produces the rows and waits until each is acknowledged or failed (or the
 * publisher stops); then moves the cursor past the delivered prefix. */
static int publish_rows(struct cps_publisher *p, struct cps_change_row *rows, size_t n,
                        char *errstr, size_t errstr_size)
{
	signed char *slot = calloc(n, 1);
	size_t delivered = 0, failed = 0;
	int rc = CPS_OK;
	char kerr[512];

	if (!slot)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n && !atomic_load(&p->stop); i++) {
		rd_kafka_resp_err_t err;

		for (;;) {
			err = rd_kafka_producev(
			    p->rk, RD_KAFKA_V_TOPIC(rows[i].topic),
			    RD_KAFKA_V_KEY(rows[i].key, rows[i].key ? strlen(rows[i].key) : 0),
			    RD_KAFKA_V_VALUE((void *)rows[i].payload, rows[i].payload_len),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&slot[i]),
			    RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || atomic_load(&p->stop))
				break;
			rd_kafka_poll(p->rk, 100);
		}
		if (err) {
			slot[i] = -1;
			snprintf(kerr, sizeof(kerr), "%s", rd_kafka_err2str(err));
		}
	}
	/* All delivered (or failed) before the cursor moves. */
	while (rd_kafka_outq_len(p->rk) > 0 && !atomic_load(&p->stop)) {
		rd_kafka_flush(p->rk, 200);
		if (rd_kafka_fatal_error(p->rk, kerr, sizeof(kerr)))
			break;
		atomic_store(&p->pending, (long long)n);
	}
	if (rd_kafka_outq_len(p->rk) > 0) {
		/* Stopping (or fatal): what is not acknowledged is sent again. */
		producer_drop(p);
	}
	while (delivered < n && slot[delivered] == 1)
		delivered++;
	for (size_t i = delivered; i < n; i++)
		failed += slot[i] != 1;
	if (delivered) {
		rc = cps_store_changes_advance(p->store, &rows[delivered - 1], errstr, errstr_size);
		if (rc != CPS_OK)
			goto cleanup;
		atomic_fetch_add(&p->published, (long long)delivered);
		atomic_store(&p->pending, (long long)(n - delivered));
		if (p->link) {
			atomic_fetch_add(&p->link->records, (int64_t)delivered);
			atomic_store(&p->link->last_success_ms, cps_wall_ms());
		}
	}
	if (failed && !atomic_load(&p->stop)) {
		atomic_fetch_add(&p->errors, (long long)failed - 1);
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "%zu of %zu unified events not delivered", failed, n);
	}
cleanup:
	free(slot);
	return rc;
}

#define HISTORY (-1) /* purge()'s kind for the change log */

/* One slice of `kind` (HISTORY or an enum cps_retention). */
static int purge_slice(struct cps_publisher *p, int kind, int64_t age_ms, size_t *done,
                       char *errstr, size_t errstr_size)
{
	if (kind == HISTORY)
		return cps_store_changes_prune(p->store, age_ms, PRUNE_SLICE, done, errstr,
		                               errstr_size);
	return cps_store_retain(p->store, (enum cps_retention)kind, age_ms, PRUNE_SLICE, done,
	                        errstr, errstr_size);
}

/* Purges `kind`, a slice at a time, until a slice comes back short or the
 * publisher stops; counted in /status. False when it failed (logged). */
static bool purge(struct cps_publisher *p, int kind, int64_t age_ms)
{
	const char *what =
	    kind == HISTORY ? "history" : cps_retention_name((enum cps_retention)kind);
	char errstr[CPS_ERRSTR_SIZE];
	size_t done = 0;
	int64_t total = 0;

	do {
		if (purge_slice(p, kind, age_ms, &done, errstr, sizeof(errstr)) != CPS_OK) {
			cps_log_warn(FAC, "retention of %s: %s", what, errstr);
			return false;
		}
		total += (int64_t)done;
	} while (done == PRUNE_SLICE && !atomic_load(&p->stop));
	if (total && p->status)
		cps_status_count_purged(p->status, what, total);
	if (total)
		cps_log_info(FAC, "retention: %" PRId64 " %s older than %" PRId64 " h purged",
		             total, what, age_ms / 3600000);
	return true;
}

/* Retention (store.history_retention and the other store.*_retention): the
 * leader purges, a slice at a time, at most every PRUNE_EVERY_MS. A failure
 * is logged and tried again at the next turn; publishing goes on. */
static void prune(struct cps_publisher *p)
{
	int64_t now = cps_mono_ms();

	if (now < p->next_prune_ms)
		return;
	p->next_prune_ms = now + PRUNE_EVERY_MS;
	if (p->retention_ms && !purge(p, HISTORY, p->retention_ms))
		return;
	for (int k = 0; k < CPS_RETAIN_KINDS; k++)
		if (p->retain_ms[k] && !purge(p, k, p->retain_ms[k]))
			return;
}

/* Takes the publisher's advisory lock, or waits as STANDBY (healthy) while
 * another instance holds it. Returns whether this one publishes. */
static bool lead(struct cps_publisher *p)
{
	char errstr[CPS_ERRSTR_SIZE];

	if (cps_store_try_lock(p->store, LEADER_LOCK, &p->leading, errstr, sizeof(errstr)) !=
	    CPS_OK) {
		fail(p, "taking the publisher's advisory lock", errstr);
		cps_store_close(p->store);
		p->store = NULL;
		wait_wake(p, BACKOFF_MAX_MS);
		return false;
	}
	if (p->leading) {
		cps_log_info(FAC, "publishing (advisory lock '%s' held)", LEADER_LOCK);
		return true;
	}
	if (p->link && atomic_load(&p->link->state) != CPS_LINK_STANDBY) {
		cps_log_info(FAC, "standby: another instance publishes");
		cps_link_set_state(p->link, CPS_LINK_STANDBY);
	}
	for (int waited = 0; waited < p->leader_retry_ms && !atomic_load(&p->stop); waited += 100)
		wait_wake(p, 100);
	return false;
}

/* An operator's restart (a fresh producer and store session, which gives
 * the lock up) and pause (PAUSED, publishing nothing while keeping the lock
 * so no other instance publishes either). Returns true while paused. */
static bool pause_or_restart(struct cps_publisher *p)
{
	if (atomic_exchange(&p->restart, false)) {
		cps_log_info(FAC, "publisher restarting: new producer and store session");
		producer_drop(p);
		cps_store_close(p->store);
		p->store = NULL;
		p->leading = false;
		atomic_fetch_add(&p->restarts, 1);
	}
	if (!cps_pause_on(&p->pause))
		return false;
	if (p->link && atomic_load(&p->link->state) != CPS_LINK_PAUSED)
		cps_link_set_state(p->link, CPS_LINK_PAUSED);
	wait_wake(p, 100);
	return true;
}

static void *run(void *arg)
{
	struct cps_publisher *p = arg;
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS;

	while (!atomic_load(&p->stop)) {
		struct cps_change_row *rows = NULL;
		size_t n = 0;
		int rc;

		if (pause_or_restart(p))
			continue;
		if (!p->store) {
			p->leading = false; /* a closed session has lost its lock */
			if (cps_store_open(p->conninfo, &p->store, errstr, sizeof(errstr)) !=
			    CPS_OK) {
				p->store = NULL;
				fail(p, "store", errstr);
				goto backoff;
			}
		}
		if (!p->leading && !lead(p))
			continue;
		if (!p->rk && producer_new(p, errstr, sizeof(errstr)) != CPS_OK) {
			fail(p, "producer", errstr);
			goto backoff;
		}
		prune(p);
		rc = cps_store_changes_fetch(p->store, p->batch, &rows, &n, errstr, sizeof(errstr));
		if (rc != CPS_OK) {
			fail(p, "change-log fetch", errstr);
			cps_store_close(p->store);
			p->store = NULL;
			goto backoff;
		}
		atomic_store(&p->pending, (long long)n);
		if (n == 0) {
			if (p->link && atomic_load(&p->link->state) != CPS_LINK_RUNNING)
				cps_link_set_state(p->link, CPS_LINK_RUNNING);
			backoff = BACKOFF_MIN_MS;
			wait_wake(p, IDLE_WAIT_MS);
			continue;
		}
		rc = publish_rows(p, rows, n, errstr, sizeof(errstr));
		if (atomic_load(&p->stop))
			break;
		if (rc != CPS_OK) {
			fail(p, "publish", errstr);
			if (p->rk && rd_kafka_fatal_error(p->rk, NULL, 0))
				producer_drop(p);
			if (rc != CPS_ERR_RETRIABLE) {
				/* The cursor did not move: reconnect; rows go out again. */
				cps_store_close(p->store);
				p->store = NULL;
			}
			goto backoff;
		}
		if (p->link && atomic_load(&p->link->state) != CPS_LINK_RUNNING)
			cps_link_set_state(p->link, CPS_LINK_RUNNING);
		backoff = BACKOFF_MIN_MS;
		continue;
	backoff:
		wait_wake(p, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	producer_drop(p);
	cps_store_close(p->store);
	p->store = NULL;
	if (p->link)
		cps_link_set_state(p->link, CPS_LINK_STOPPED);
	return NULL;
}

/* The publisher's own copies; not its thread, mutex or condition. */
static void publisher_free(struct cps_publisher *p)
{
	cps_settings_release(&p->props);
	free(p->bootstrap);
	free(p->conninfo);
	free(p);
}

/* The pause's wake (base/pause.h): a paused publisher sleeps on its condition. */
static void publisher_wake(void *p)
{
	cps_publisher_wake(p);
}

int cps_publisher_start(const struct cps_publisher_conf *conf, struct cps_publisher **out,
                        char *errstr, size_t errstr_size)
{
	struct cps_publisher *p;

	*out = NULL;
	if (!conf || !conf->bootstrap || !conf->conninfo)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "the publisher needs a bootstrap and a store conninfo");
	p = calloc(1, sizeof(*p));
	if (!p)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_settings_init(&p->props);
	p->bootstrap = strdup(conf->bootstrap);
	p->conninfo = strdup(conf->conninfo);
	if (!p->bootstrap || !p->conninfo ||
	    (conf->kafka_properties && cps_settings_copy(&p->props, conf->kafka_properties)))
		goto oom;
	p->batch = conf->batch ? conf->batch : 1000;
	p->leader_retry_ms = conf->leader_retry_ms > 0 ? conf->leader_retry_ms : 2000;
	p->retention_ms = conf->retention_ms > 0 ? conf->retention_ms : 0;
	for (int k = 0; k < CPS_RETAIN_KINDS; k++)
		p->retain_ms[k] = conf->retain_ms[k] > 0 ? conf->retain_ms[k] : 0;
	p->status = conf->status;
	p->link = conf->link;
	cps_pause_init(&p->pause, conf->start_paused, publisher_wake, p);
	atomic_init(&p->restart, false);
	atomic_init(&p->restarts, 0);
	pthread_mutex_init(&p->mu, NULL);
	cps_cond_init_monotonic(&p->cv);
	if (p->link)
		cps_link_set_state(p->link, CPS_LINK_STARTING);
	if (pthread_create(&p->thread, NULL, run, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		publisher_free(p);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "cannot start the publisher thread");
	}
	*out = p;
	return CPS_OK;
oom:
	publisher_free(p);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

void cps_publisher_stop(struct cps_publisher *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	cps_publisher_wake(p);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	publisher_free(p);
}

struct cps_pause *cps_publisher_pause(struct cps_publisher *p)
{
	return &p->pause;
}

void cps_publisher_restart(struct cps_publisher *p)
{
	atomic_store(&p->restart, true);
	cps_publisher_wake(p);
}

int64_t cps_publisher_restarts(struct cps_publisher *p)
{
	return atomic_load(&p->restarts);
}

void cps_publisher_get_stats(struct cps_publisher *p, struct cps_publisher_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->published = atomic_load(&p->published);
	out->errors = atomic_load(&p->errors);
	out->pending = atomic_load(&p->pending);
}

int cps_kafka_properties_from_config(const struct cps_config *cfg, struct cps_settings *out)
{
	static const char *const sections[] = {"kafka.properties", "kafka.producer",
	                                       "kafka.consumer"};
	char key[512];

	for (size_t s = 0; s < CPS_ARRAY_SIZE(sections); s++) {
		const struct cps_config_node *map = cps_config_get_map(cfg, sections[s]);

		for (size_t i = 0; map && i < map->count; i++) {
			const struct cps_config_node *kv = map->children[i];

			if (kv->kind != CPS_NODE_SCALAR || !kv->key || !kv->value)
				continue;
			snprintf(key, sizeof(key), "%s.%s", sections[s], kv->key);
			if (cps_settings_set(out, key, kv->value) != 0)
				return -1;
		}
	}
	return 0;
}
