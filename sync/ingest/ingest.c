/*
 * The source runner (see ingest.h and ENGINE.md "Source runner"): poll a
 * batch, turn each message into an IngestEvent on the ingest topic or into a
 * dead letter, wait for every delivery report and the dead-letter store
 * write, then queue the batch (ingest_ack.h) and commit its positions to the
 * source once the store has applied everything it produced. A failed batch
 * is retried as it is (its messages stay valid until the next poll).
 */
#include "ingest/ingest.h"
#include "base/clock.h"

#include "codec/avro_json.h"
#include "model/entity.h"
#include "kafka/broker.h"
#include "ingest/deadletter.h"
#include "model/event.h"
#include "ingest/ingest_ack.h"
#include "base/log.h"
#include "base/pii.h"
#include "store/store.h"
#include "store/pgerr.h"
#include "model/validate.h"

#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FACILITY           "INGEST"
#define KEY_MAX            1024 /* bytes of a tombstone's key */
#define QUEUE_FULL_WAIT_MS 30000
#define HEADER_EFFECTIVE   "effective_time"
#define HEADER_WRITER_FP   "cpsync-writer-fingerprint"
#define LOCK_CHECK_MS      2000  /* a leader's `SELECT 1` on its lock session */
#define ACK_CHECK_MS       20    /* how often the store is asked what it has applied */
#define ACK_MAX_PENDING    64    /* batches acknowledged by Kafka, not yet by the store */
#define ACK_WINDOW_BATCHES 4     /* ... and at most this many full batches of events */
#define ACK_DRAIN_MS       5000  /* at stop: how long to wait for the store to catch up */
#define REPLAY_APPLY_MS    30000 /* a replay waits this long for the store */

struct cps_ingest {
	/* configuration */
	char platform[CPS_PLATFORM_MAX];
	char *ingest_topic, *dead_letter_topic, *store_conninfo, *bootstrap;
	struct cps_settings props;
	enum cps_framing framing;
	struct cps_catalog *catalog;
	struct cps_registry *registry;
	size_t batch_max;
	int poll_timeout_ms, flush_timeout_ms, backoff_max_ms;
	struct cps_link *link;
	struct cps_status *status;
	cps_ingest_reopen_fn reopen;
	void *reopen_arg;
	bool single_reader;
	int leader_retry_ms;
	char instance[128];
	struct cps_ingest_topic *identity;

	/* @locality runner thread (after start) */
	struct cps_conn *source;
	rd_kafka_t *rk;
	struct cps_store *store;
	struct cps_codec *codec[CPS_N_ENTITIES];
	struct cps_event_codec *events;
	struct cps_buf value, key;
	struct cps_deadletters dead;
	struct cps_position *positions;
	size_t cap_positions;
	int64_t batch_accepted, batch_newest_effective;
	/* delivery reports of the current attempt (served on the runner thread) */
	int64_t dr_failed;
	char dr_first_error[256];
	struct cps_ingest_produced *produced; /* the attempt's last offset per partition */
	size_t n_produced, cap_produced;
	bool produced_oom;
	/* acknowledged batches waiting for the store (ingest_ack.h) */
	struct cps_ingest_acks *acks;
	int64_t acks_checked_ms;
	/* a single-reader source's advisory lock: its own store session */
	PGconn *lock_conn;
	bool leading, standby_logged;
	int64_t lock_checked_ms;

	pthread_t thread;
	atomic_bool stop, paused;
	_Atomic int64_t accepted, dead_letters, errors, commits;

	/* cps_ingest_restart: the runner closes and reopens its source */
	atomic_bool restart;
	_Atomic int64_t restarts;
	/* cps_ingest_replay: a second message path (its own codecs, producer
	 * and buffers, created on first use) so that replays never touch the
	 * runner thread's; serialised by replay_lock */
	struct cps_guard_limits limits;
	bool has_limits;
	pthread_mutex_t replay_lock;
	struct cps_ingest *replay;
};

/* ------------------------------------------------------------ producer */

/* @locality runner thread */
static void note_produced(struct cps_ingest *r, int32_t partition, int64_t offset)
{
	while (cps_ingest_produced_note(r->produced, &r->n_produced, r->cap_produced, partition,
	                                offset) < 0) {
		size_t cap = r->cap_produced ? r->cap_produced * 2 : 32;
		struct cps_ingest_produced *p = realloc(r->produced, cap * sizeof(*p));

		if (!p) {
			r->produced_oom = true; /* the attempt fails: nothing to wait for */
			return;
		}
		r->produced = p;
		r->cap_produced = cap;
	}
}

/* @locality runner thread (rd_kafka_poll / rd_kafka_flush serve it there) */
static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct cps_ingest *r = opaque;

	if (!rkm->err) {
		if (strcmp(rd_kafka_topic_name(rkm->rkt), r->ingest_topic) == 0)
			note_produced(r, rkm->partition, rkm->offset);
		return;
	}
	if (r->dr_failed++ == 0)
		snprintf(r->dr_first_error, sizeof(r->dr_first_error),
		         "delivery to '%s' [%" PRId32 "] failed: %s", rd_kafka_topic_name(rkm->rkt),
		         rkm->partition, rd_kafka_err2str(rkm->err));
}

static bool user_sets(const struct cps_settings *props, const char *property)
{
	char key[256];

	snprintf(key, sizeof(key), "properties.%s", property);
	if (cps_settings_get(props, key))
		return true;
	snprintf(key, sizeof(key), "kafka.properties.%s", property);
	return cps_settings_get(props, key) != NULL;
}

static int producer_new(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	char client_id[CPS_PLATFORM_MAX + 32], why[512];
	rd_kafka_conf_t *conf = cps_kafka_conf_new_for(CPS_KAFKA_PRODUCER, r->bootstrap, &r->props,
	                                               errstr, errstr_size);

	if (!conf)
		return CPS_ERR_INVALID;
	snprintf(client_id, sizeof(client_id), "cpsync-%s-ingest", r->platform);
	if ((!user_sets(&r->props, "client.id") &&
	     cps_kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size) != CPS_OK) ||
	    cps_kafka_conf_set(conf, "acks", "all", errstr, errstr_size) != CPS_OK ||
	    cps_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != CPS_OK) {
		rd_kafka_conf_destroy(conf);
		return CPS_ERR_INVALID;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	rd_kafka_conf_set_opaque(conf, r);
	r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!r->rk) {
		rd_kafka_conf_destroy(conf);
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "creating the ingest producer failed: %s",
		                  why);
	}
	return CPS_OK;
}

static void producer_free(struct cps_ingest *r)
{
	if (!r->rk)
		return;
	rd_kafka_flush(r->rk, 1000);
	rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(r->rk, 0);
	rd_kafka_destroy(r->rk);
	r->rk = NULL;
}

static int produce(struct cps_ingest *r, const char *topic, const void *key, size_t key_len,
                   const void *value, size_t value_len, char *errstr, size_t errstr_size)
{
	int64_t deadline = cps_mono_ms() + QUEUE_FULL_WAIT_MS;
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(r->rk, RD_KAFKA_V_TOPIC(topic),
		                        RD_KAFKA_V_KEY((void *)key, key_len),
		                        RD_KAFKA_V_VALUE((void *)value, value_len),
		                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cps_mono_ms() >= deadline)
			break;
		rd_kafka_poll(r->rk, 50);
	}
	if (!err)
		return CPS_OK;
	return cps_seterr(err == RD_KAFKA_RESP_ERR__FATAL ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
	                       errstr, errstr_size, "producing to '%s' failed: %s", topic,
	                       rd_kafka_err2str(err));
}

/* ------------------------------------------------------------- message */

static int dead_letter(struct cps_ingest *r, const struct cps_source_msg *m, const char *entity,
                       const char *reason, int64_t now, char *errstr, size_t errstr_size)
{
	cps_log_debug(CPS_DBG_CONNECTOR, FACILITY, "dead letter at '%s': %s", m->origin, reason);
	return cps_deadletters_add(&r->dead, r->platform, m, entity, reason, now, errstr,
	                           errstr_size);
}

/* The "effective_time" header: *out = its value, -1 when absent; -1 return
 * when present but not a decimal number of milliseconds. */
static int header_effective_time(const struct cps_source_msg *m, int64_t *out)
{
	*out = -1;
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct cps_header *h = &m->headers[i];
		const char *p = h->value;
		int64_t v = 0;

		if (strcmp(h->name, HEADER_EFFECTIVE) != 0)
			continue;
		if (!p || h->value_len == 0 || h->value_len > 18)
			return -1;
		for (size_t j = 0; j < h->value_len; j++) {
			if (!isdigit((unsigned char)p[j]))
				return -1;
			v = v * 10 + (p[j] - '0');
		}
		*out = v;
	}
	return 0;
}

/* The "cpsync-writer-fingerprint" header (16 hex digits of the CRC-64-AVRO
 * fingerprint; the files source sets it from a container file's schema): the
 * raw body was written with that catalog schema. *out = NULL when absent;
 * -1 when present but malformed or unknown to the catalog. */
static int header_writer_schema(struct cps_ingest *r, const struct cps_source_msg *m,
                                struct cps_schema **out)
{
	*out = NULL;
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct cps_header *h = &m->headers[i];
		char hex[17];

		if (strcmp(h->name, HEADER_WRITER_FP) != 0)
			continue;
		if (!h->value || h->value_len != 16)
			return -1;
		memcpy(hex, h->value, 16);
		hex[16] = '\0';
		if (strspn(hex, "0123456789abcdef") != 16)
			return -1;
		*out = cps_catalog_by_fingerprint(r->catalog, strtoull(hex, NULL, 16));
		return *out ? 0 : -1;
	}
	return 0;
}

/* The entity's business time field, when it has one and it is set. */
static int64_t business_time(const char *entity, json_t *record)
{
	const char *field = !strcmp(entity, "verification") ? "verified_at"
	                    : !strcmp(entity, "alert")      ? "raised_at"
	                                                    : NULL;
	json_t *v = field ? json_object_get(record, field) : NULL;

	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_get(v, "long");
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* The key of a tombstone: text without NUL; a person's key must also be a
 * valid national ID. NULL with `why` set otherwise. */
static char *tombstone_key(const char *entity, const struct cps_source_msg *m, char *why,
                           size_t why_size)
{
	char reason[CPS_ERRSTR_SIZE];
	char *key;

	if (m->key_len > KEY_MAX || memchr(m->key, '\0', m->key_len)) {
		snprintf(why, why_size, "tombstone key is longer than %d bytes or contains NUL",
		         KEY_MAX);
		return NULL;
	}
	key = strndup(m->key, m->key_len);
	if (!key) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	if (!strcmp(entity, "person") &&
	    cps_national_id_validate(key, reason, sizeof(reason)) != CPS_OK) {
		snprintf(why, why_size, "tombstone key of person: %s", reason);
		free(key);
		return NULL;
	}
	return key;
}

/* Turns one message into an event produced to the ingest topic or into a
 * dead letter. An error return means the batch failed (produce, registry,
 * memory): the message is neither accepted nor dead. */
static int ingest_message(struct cps_ingest *r, const struct cps_source_msg *m, int64_t now,
                          char *errstr, size_t errstr_size)
{
	struct cps_ingest_event ev;
	char why[CPS_ERRSTR_SIZE], decode_err[CPS_ERRSTR_SIZE];
	const char *entity, *key_field;
	int64_t effective;
	json_t *record = NULL;
	char *key = NULL;
	int ei = m->entity ? cps_entity_index(m->entity) : -1;
	int rc;

	if (ei < 0) {
		if (m->entity)
			snprintf(why, sizeof(why), "unknown entity '%s' mapped for stream '%s'",
			         m->entity, m->pos.stream);
		else
			snprintf(why, sizeof(why),
			         "unknown entity: stream '%s' has no entity mapping",
			         m->pos.stream);
		return dead_letter(r, m, NULL, why, now, errstr, errstr_size);
	}
	entity = cps_entities[ei];
	if (header_effective_time(m, &effective) < 0)
		return dead_letter(
		    r, m, entity, "header 'effective_time' is not a decimal number of milliseconds",
		    now, errstr, errstr_size);
	memset(&ev, 0, sizeof(ev));
	if (!m->value || m->value_len == 0) {
		if (!m->key || m->key_len == 0)
			return dead_letter(r, m, entity, "empty message without a key", now, errstr,
			                   errstr_size);
		key = tombstone_key(entity, m, why, sizeof(why));
		if (!key)
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		ev.op = CPS_OP_DELETE;
	} else {
		struct cps_schema *writer = NULL;

		if (header_writer_schema(r, m, &writer) < 0) {
			snprintf(why, sizeof(why),
			         "header '%s' names no writer schema of the catalog",
			         HEADER_WRITER_FP);
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		}
		if (writer)
			rc = cps_codec_decode(
			    r->codec[ei], writer == cps_codec_schema(r->codec[ei]) ? NULL : writer,
			    m->value, m->value_len, decode_err, sizeof(decode_err));
		else
			rc = cps_codec_decode_framed(r->codec[ei], r->framing, r->catalog,
			                             r->registry, m->value, m->value_len,
			                             decode_err, sizeof(decode_err));
		if (rc == CPS_ERR_RETRIABLE || rc == CPS_ERR_FATAL)
			return cps_seterr(rc, errstr, errstr_size, "decoding a %s record: %s",
			                       entity, decode_err);
		if (rc != CPS_OK) {
			snprintf(why, sizeof(why), "undecodable %s record: %s", entity, decode_err);
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		}
		record = cps_value_to_json(cps_codec_value(r->codec[ei]), decode_err,
		                           sizeof(decode_err));
		if (!record) {
			snprintf(why, sizeof(why), "%s record has no JSON form: %s", entity,
			         decode_err);
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		}
		if (cps_validate_record(entity, record, why, sizeof(why)) != CPS_OK) {
			json_decref(record);
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		}
		key_field = cps_entity_key_field(entity);
		if (!json_is_string(json_object_get(record, key_field))) {
			json_decref(record);
			snprintf(why, sizeof(why), "key field '%s.%s' is not a plain string",
			         entity, key_field);
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		}
		key = strdup(json_string_value(json_object_get(record, key_field)));
		if (!key) {
			json_decref(record);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		ev.op = CPS_OP_UPSERT;
		if (effective < 0)
			effective = business_time(entity, record);
	}
	snprintf(ev.platform, sizeof(ev.platform), "%s", r->platform);
	snprintf(ev.entity, sizeof(ev.entity), "%s", entity);
	ev.key = key;
	ev.record = record;
	ev.source_ms = m->source_ts_ms >= 0 ? m->source_ts_ms : now;
	ev.effective_ms = effective >= 0 ? effective : ev.source_ms;
	ev.source_position = (char *)m->origin; /* borrowed: not released below */
	cps_buf_reset(&r->value);
	cps_buf_reset(&r->key);
	rc = cps_ingest_event_encode(r->events, &ev, &r->value, why, sizeof(why));
	if (rc == CPS_ERR_INVALID) {
		char reason[CPS_ERRSTR_SIZE];

		snprintf(reason, sizeof(reason), "cannot encode the ingest event: %s", why);
		rc = dead_letter(r, m, entity, reason, now, errstr, errstr_size);
		goto out;
	}
	if (rc != CPS_OK) {
		rc = cps_seterr(rc, errstr, errstr_size, "encoding an ingest event: %s", why);
		goto out;
	}
	if (cps_ingest_key(entity, key, &r->key) != 0) {
		rc = dead_letter(r, m, entity, "key is too long for the ingest topic", now, errstr,
		                 errstr_size);
		goto out;
	}
	rc = produce(r, r->ingest_topic, r->key.data, r->key.len, r->value.data, r->value.len,
	             errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	r->batch_accepted++;
	if (ev.effective_ms > r->batch_newest_effective)
		r->batch_newest_effective = ev.effective_ms;
out:
	free(key);
	json_decref(record);
	return rc;
}

/* --------------------------------------------------------------- batch */

/* One attempt at a batch: events and dead letters produced and acknowledged,
 * dead letters stored. Nothing is committed here. */
static int process_batch(struct cps_ingest *r, const struct cps_source_batch *b, char *errstr,
                         size_t errstr_size)
{
	int64_t now = cps_wall_ms();
	rd_kafka_resp_err_t err;
	char fatal[256];
	int rc;

	if (!r->rk) {
		rc = producer_new(r, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc == CPS_ERR_INVALID ? CPS_ERR_RETRIABLE : rc;
	}
	/* what an earlier failed attempt left in flight does not count now */
	rd_kafka_flush(r->rk, r->flush_timeout_ms);
	r->dr_failed = 0;
	r->dr_first_error[0] = '\0';
	r->n_produced = 0;
	r->produced_oom = false;
	r->batch_accepted = 0;
	r->batch_newest_effective = -1;
	cps_deadletters_reset(&r->dead);
	for (size_t i = 0; i < b->n; i++) {
		rc = ingest_message(r, &b->msgs[i], now, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	if (r->dead.n && r->dead_letter_topic) {
		rc = cps_deadletters_produce(&r->dead, r->rk, r->dead_letter_topic, errstr,
		                             errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	err = rd_kafka_flush(r->rk, r->flush_timeout_ms);
	if (rd_kafka_fatal_error(r->rk, fatal, sizeof(fatal)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "ingest producer fatal error: %s", fatal);
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "flush timed out after %d ms with %d messages undelivered",
		                       r->flush_timeout_ms, rd_kafka_outq_len(r->rk));
	if (r->dr_failed)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "%" PRId64 " deliveries failed, first: %s", r->dr_failed,
		                       r->dr_first_error);
	if (r->produced_oom)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "out of memory noting the produced offsets");
	if (r->dead.n) {
		if (!r->store) {
			rc = cps_store_open(r->store_conninfo, &r->store, errstr, errstr_size);
			if (rc != CPS_OK)
				return rc == CPS_ERR_INVALID ? CPS_ERR_RETRIABLE : rc;
		}
		rc = cps_deadletters_store(&r->dead, r->store, errstr, errstr_size);
		if (rc != CPS_OK) {
			/* a fresh connection next time */
			cps_store_close(r->store);
			r->store = NULL;
			return rc;
		}
	}
	return CPS_OK;
}

/* The highest position of each stream/partition of the batch. */
static int batch_positions(struct cps_ingest *r, const struct cps_source_batch *b, size_t *n,
                           char *errstr, size_t errstr_size)
{
	*n = 0;
	if (b->n > r->cap_positions) {
		struct cps_position *p = realloc(r->positions, b->n * sizeof(*p));

		if (!p)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		r->positions = p;
		r->cap_positions = b->n;
	}
	for (size_t i = 0; i < b->n; i++) /* room for b->n: never full */
		cps_positions_raise(r->positions, n, r->cap_positions, &b->msgs[i].pos);
	return CPS_OK;
}

/* ---------------------------------------------------------------- loop */

static void set_state(struct cps_ingest *r, enum cps_link_state s)
{
	if (r->link)
		cps_link_set_state(r->link, s);
}

static void record_failure(struct cps_ingest *r, const char *what, const char *err)
{
	char msg[CPS_ERRSTR_SIZE + 64];

	snprintf(msg, sizeof(msg), "%s: %s", what, err);
	atomic_fetch_add(&r->errors, 1);
	cps_log_warn(FACILITY, "source '%s' %s", r->platform, msg);
	if (r->link) {
		atomic_fetch_add(&r->link->errors, 1);
		if (r->status)
			cps_link_set_error(r->status, r->link, msg);
		cps_link_set_state(r->link, CPS_LINK_FAILED);
	}
}

static void update_lag(struct cps_ingest *r)
{
	struct cps_conn_status st;

	if (!r->link || !r->source)
		return;
	cps_conn_describe(r->source, &st);
	atomic_store(&r->link->lag, st.lag);
}

/* Sleeps the current backoff (interrupted by stop) and doubles it. */
static void backoff_sleep(struct cps_ingest *r, int *backoff_ms)
{
	int64_t until = cps_mono_ms() + *backoff_ms;

	while (!atomic_load(&r->stop) && cps_mono_ms() < until) {
		struct timespec ts = {0, 20 * 1000000};

		nanosleep(&ts, NULL);
	}
	*backoff_ms = *backoff_ms * 2 > r->backoff_max_ms ? r->backoff_max_ms : *backoff_ms * 2;
}

/* Closes the source. Its batches waiting for the store are forgotten: a
 * new source delivers them again from the last committed position. */
static void source_drop(struct cps_ingest *r)
{
	cps_source_close(r->source);
	r->source = NULL;
	cps_ingest_acks_clear(r->acks);
}

/* ------------------------------------------- single reader: leadership */

static void leader_release(struct cps_ingest *r)
{
	PQfinish(r->lock_conn);
	r->lock_conn = NULL;
	r->leading = false;
}

/* "what: libpq's first line" (it holds no row values). */
static void pq_error(PGconn *c, const char *what, char *err, size_t err_size)
{
	char line[200];

	snprintf(err, err_size, "%s: %s", what, cps_pg_conn_message(c, line, sizeof(line)));
}

/* Asks for the source's session-level advisory lock on the runner's own
 * store connection (opened when needed, named for the DBAs). CPS_OK with
 * r->leading telling whether the lock is ours; CPS_ERR_RETRIABLE when the
 * store could not be asked (the session is then closed). */
static int leader_try(struct cps_ingest *r, char *err, size_t err_size)
{
	char appname[128 + CPS_PLATFORM_MAX + 16];
	/* defaults the store's conninfo may override, then ours: the name */
	const char *keys[] = {"connect_timeout",
	                      "keepalives_idle",
	                      "keepalives_interval",
	                      "keepalives_count",
	                      "dbname",
	                      "application_name",
	                      NULL};
	const char *values[] = {"10", "5", "2", "3", r->store_conninfo, appname, NULL};
	const char *params[1] = {r->platform};
	PGresult *res;

	if (r->lock_conn && PQstatus(r->lock_conn) != CONNECTION_OK)
		leader_release(r);
	if (!r->lock_conn) {
		snprintf(appname, sizeof(appname), "cpsync %s %s", r->instance, r->platform);
		r->lock_conn = PQconnectdbParams(keys, values, 1);
		if (PQstatus(r->lock_conn) != CONNECTION_OK) {
			pq_error(r->lock_conn, "connecting to the store", err, err_size);
			leader_release(r);
			return CPS_ERR_RETRIABLE;
		}
	}
	res = PQexecParams(r->lock_conn,
	                   "SELECT pg_try_advisory_lock(hashtextextended('cpsync.source.' || $1, "
	                   "0))",
	                   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pq_error(r->lock_conn, "pg_try_advisory_lock", err, err_size);
		PQclear(res);
		leader_release(r);
		return CPS_ERR_RETRIABLE;
	}
	r->leading = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	r->lock_checked_ms = cps_mono_ms();
	return CPS_OK;
}

/* Whether the leader's lock session is still alive (a `SELECT 1` every
 * LOCK_CHECK_MS; a lost session has lost its lock). */
static bool leader_check(struct cps_ingest *r)
{
	PGresult *res;
	bool ok;

	if (!r->lock_conn || PQstatus(r->lock_conn) != CONNECTION_OK)
		return false;
	if (cps_mono_ms() - r->lock_checked_ms < LOCK_CHECK_MS)
		return true;
	res = PQexec(r->lock_conn, "SELECT 1");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	r->lock_checked_ms = cps_mono_ms();
	return ok;
}

/* Sleeps store.leader_retry_ms (interrupted by stop, restart or pause). */
static void standby_sleep(struct cps_ingest *r)
{
	int64_t until = cps_mono_ms() + r->leader_retry_ms;

	while (!atomic_load(&r->stop) && !atomic_load(&r->restart) && !atomic_load(&r->paused) &&
	       cps_mono_ms() < until) {
		struct timespec ts = {0, 20 * 1000000};

		nanosleep(&ts, NULL);
	}
}

/* A single-reader source may be read only under its advisory lock: true
 * when this runner holds it; false (after a standby wait, the source closed)
 * when another instance does or the store cannot be asked. */
static bool leader_hold(struct cps_ingest *r)
{
	char err[CPS_ERRSTR_SIZE];

	if (r->leading) {
		if (leader_check(r))
			return true;
		cps_log_warn(FACILITY,
		             "platform '%s': the advisory lock's store session is lost, closing "
		             "the source",
		             r->platform);
		if (r->source)
			source_drop(r);
		leader_release(r);
	}
	if (leader_try(r, err, sizeof(err)) != CPS_OK) {
		if (r->source)
			source_drop(r);
		r->standby_logged = false;
		record_failure(r, "taking the source's advisory lock failed", err);
		standby_sleep(r);
		return false;
	}
	if (r->leading) {
		cps_log_info(FACILITY, "platform '%s': leading (advisory lock held)", r->platform);
		r->standby_logged = false;
		set_state(r, CPS_LINK_STARTING);
		return true;
	}
	if (r->source)
		source_drop(r);
	if (!r->standby_logged)
		cps_log_info(FACILITY, "platform '%s': standby (another instance holds the source)",
		             r->platform);
	r->standby_logged = true;
	set_state(r, CPS_LINK_STANDBY);
	standby_sleep(r);
	return false;
}

/* Commits to the source the positions of every queued batch whose events
 * the store has applied (end-to-end acknowledgement, ingest_ack.h). Only
 * after the ingest topic's identity is verified: before that, stored offsets
 * may belong to an older topic. Returns false when the source must be
 * reopened. */
static bool commit_applied(struct cps_ingest *r, int *backoff_ms)
{
	const struct cps_position *pos;
	char err[CPS_ERRSTR_SIZE];
	size_t n_pos, n_batches;
	int rc;

	if (!cps_ingest_acks_pending(r->acks) || !cps_ingest_topic_verified(r->identity))
		return true;
	r->acks_checked_ms = cps_mono_ms();
	if (!r->store && cps_store_open(r->store_conninfo, &r->store, err, sizeof(err)) != CPS_OK) {
		r->store = NULL;
		record_failure(r, "asking the store what it has applied", err);
		return true;
	}
	rc = cps_ingest_acks_release(r->acks, r->store, &pos, &n_pos, &n_batches, err, sizeof(err));
	if (rc != CPS_OK) {
		record_failure(r, "asking the store what it has applied", err);
		cps_store_close(r->store);
		r->store = NULL;
		return true;
	}
	if (!n_pos)
		return true;
	/* No retry loop here: the source may have broken since it delivered
	 * (a terminated walsender); its next poll finds out and reopens it. A
	 * position not committed now is covered by the next commit (commits are
	 * cumulative) or delivered again after a restart. */
	(void)backoff_ms;
	rc = cps_source_commit(r->source, pos, n_pos, err, sizeof(err));
	if (rc != CPS_OK) {
		record_failure(r, "source commit failed", err);
		return !(rc == CPS_ERR_FATAL && r->reopen);
	}
	atomic_fetch_add(&r->commits, 1);
	return true;
}

/* At stop: gives the store a little time to apply what was acknowledged, so
 * that a clean restart delivers little again. */
static void drain_applied(struct cps_ingest *r)
{
	int64_t until = cps_mono_ms() + ACK_DRAIN_MS;
	int backoff_ms = 100;

	while (r->source && cps_ingest_acks_pending(r->acks) && cps_mono_ms() < until) {
		struct timespec ts = {0, ACK_CHECK_MS * 1000000};

		if (!commit_applied(r, &backoff_ms))
			return;
		nanosleep(&ts, NULL);
	}
	if (cps_ingest_acks_pending(r->acks))
		cps_log_info(FACILITY,
		             "source '%s' stops with %zu batch(es) not yet applied by the store: "
		             "they come again from the source on the next start",
		             r->platform, cps_ingest_acks_pending(r->acks));
}

/* Processes a polled batch until it is acknowledged by the ingest topic and
 * queued for the store's acknowledgement, or stop. Returns false when the
 * source must be reopened. */
static bool run_batch(struct cps_ingest *r, const struct cps_source_batch *b, int *backoff_ms)
{
	char err[CPS_ERRSTR_SIZE];
	size_t n_pos;
	int rc;

	for (;;) {
		rc = process_batch(r, b, err, sizeof(err));
		if (rc == CPS_OK)
			break;
		record_failure(r, "batch failed, retrying", err);
		if (rc == CPS_ERR_FATAL && r->rk && rd_kafka_fatal_error(r->rk, NULL, 0)) {
			producer_free(r);
			if (producer_new(r, err, sizeof(err)) != CPS_OK)
				record_failure(r, "recreating the producer", err);
		}
		backoff_sleep(r, backoff_ms);
		if (atomic_load(&r->stop))
			return true; /* not committed: the batch comes again */
	}
	if (batch_positions(r, b, &n_pos, err, sizeof(err)) != CPS_OK ||
	    cps_ingest_acks_push(r->acks, r->positions, n_pos, r->produced, r->n_produced,
	                         (size_t)r->batch_accepted) < 0) {
		record_failure(r, "commit", "out of memory");
		return false;
	}
	atomic_fetch_add(&r->accepted, r->batch_accepted);
	atomic_fetch_add(&r->dead_letters, (int64_t)r->dead.n);
	if (r->link) {
		int64_t newest = atomic_load(&r->link->newest_effective_ms);

		atomic_fetch_add(&r->link->records, r->batch_accepted);
		atomic_fetch_add(&r->link->dead_letters, (int64_t)r->dead.n);
		atomic_store(&r->link->last_success_ms, cps_wall_ms());
		if (r->batch_newest_effective > newest)
			atomic_store(&r->link->newest_effective_ms, r->batch_newest_effective);
	}
	*backoff_ms = 100;
	return true;
}

static void *runner_main(void *arg)
{
	struct cps_ingest *r = arg;
	char err[CPS_ERRSTR_SIZE];
	int backoff_ms = 100;

	/* nothing goes into the ingest topic before cpsync has checked (and on a
	 * real cluster created) it */
	while (!cps_ingest_topic_verified(r->identity) && !atomic_load(&r->stop)) {
		struct timespec ts = {0, 50 * 1000000};

		nanosleep(&ts, NULL);
	}
	set_state(r, r->single_reader ? CPS_LINK_STARTING : CPS_LINK_RUNNING);
	while (!atomic_load(&r->stop)) {
		struct cps_source_batch batch;
		int poll_ms = r->poll_timeout_ms;
		int rc;

		if (cps_ingest_acks_pending(r->acks)) {
			if (cps_mono_ms() - r->acks_checked_ms >= ACK_CHECK_MS &&
			    !commit_applied(r, &backoff_ms)) {
				source_drop(r);
				continue;
			}
			if (cps_ingest_acks_pending(r->acks) >= ACK_MAX_PENDING ||
			    cps_ingest_acks_pending_events(r->acks) >=
			        ACK_WINDOW_BATCHES * r->batch_max) {
				/* the store is behind: stop reading until it catches up (what
				 * a crash makes the source deliver again stays small) */
				struct timespec ts = {0, ACK_CHECK_MS * 1000000};

				nanosleep(&ts, NULL);
				continue;
			}
			if (poll_ms > ACK_CHECK_MS)
				poll_ms = ACK_CHECK_MS;
		}

		if (atomic_exchange(&r->restart, false)) {
			cps_log_info(FACILITY, "source '%s' restarting: closing and reopening it",
			             r->platform);
			if (r->source)
				source_drop(r);
			set_state(r, CPS_LINK_STARTING);
			atomic_fetch_add(&r->restarts, 1);
			continue;
		}
		if (atomic_load(&r->paused)) {
			struct timespec ts = {0, 50 * 1000000};

			set_state(r, CPS_LINK_PAUSED);
			nanosleep(&ts, NULL);
			continue;
		}
		if (r->single_reader && !leader_hold(r))
			continue;
		if (!r->source) {
			rc = r->reopen
			         ? r->reopen(r->reopen_arg, &r->source, err, sizeof(err))
			         : cps_seterr(CPS_ERR_INVALID, err, sizeof(err), "no way to reopen the source");
			if (rc != CPS_OK) {
				r->source = NULL;
				record_failure(r, "reopening the source failed", err);
				backoff_sleep(r, &backoff_ms);
				continue;
			}
		}
		rc = cps_source_poll(r->source, &batch, r->batch_max, poll_ms, err, sizeof(err));
		if (rc != CPS_OK) {
			record_failure(r, "poll failed", err);
			if (rc == CPS_ERR_FATAL && r->reopen)
				source_drop(r);
			backoff_sleep(r, &backoff_ms);
			continue;
		}
		update_lag(r);
		if (batch.n == 0) {
			set_state(r, CPS_LINK_RUNNING); /* the source answers again */
			continue;
		}
		if (!run_batch(r, &batch, &backoff_ms)) {
			source_drop(r);
			continue;
		}
		if (!atomic_load(&r->stop))
			set_state(r, CPS_LINK_RUNNING);
		update_lag(r);
	}
	drain_applied(r);
	set_state(r, CPS_LINK_STOPPED);
	return NULL;
}

/* ----------------------------------------------------------- lifecycle */

static void runner_free(struct cps_ingest *r)
{
	if (!r)
		return;
	if (r->replay) {
		runner_free(r->replay);
		r->replay = NULL;
	}
	producer_free(r);
	leader_release(r);
	cps_ingest_acks_free(r->acks);
	free(r->produced);
	cps_store_close(r->store);
	for (int i = 0; i < CPS_N_ENTITIES; i++)
		cps_codec_free(r->codec[i]);
	cps_event_codec_free(r->events);
	cps_buf_release(&r->value);
	cps_buf_release(&r->key);
	cps_deadletters_release(&r->dead);
	cps_settings_release(&r->props);
	free(r->positions);
	free(r->ingest_topic);
	free(r->dead_letter_topic);
	free(r->store_conninfo);
	free(r->bootstrap);
	free(r);
}

/* The platform must be a symbol of the IngestEvent's Platform enum. */
static int check_platform(struct cps_catalog *catalog, const char *platform, char *errstr,
                          size_t errstr_size)
{
	struct cps_schema *s = cps_catalog_by_entity(catalog, "ingest_event");
	avro_schema_t field;
	char upper[CPS_PLATFORM_MAX];
	size_t i;

	if (!s)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the schema catalog has no ingest_event schema");
	field = avro_schema_record_field_get(s->avro, "platform");
	for (i = 0; platform[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)toupper((unsigned char)platform[i]);
	upper[i] = '\0';
	if (!field || avro_schema_enum_get_by_name(field, upper) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "platform '%s' is not one of the IngestEvent's", platform);
	return CPS_OK;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int cps_ingest_start(const struct cps_ingest_conf *conf, struct cps_ingest **out, char *errstr,
                     size_t errstr_size)
{
	struct cps_ingest *r;
	int rc;

	if (!conf->platform || !*conf->platform || strlen(conf->platform) >= CPS_NAME_MAX)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "ingest needs a platform name");
	if (conf->single_reader && !conf->reopen)
		return cps_seterr(CPS_ERR_INVALID, 
		    errstr, errstr_size,
		    "ingest of '%s' as a single reader needs a way to reopen its source",
		    conf->platform);
	if ((!conf->source && !conf->single_reader) || (conf->source && !conf->source->is_source))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "ingest of '%s' needs an open source",
		                  conf->platform);
	if (!conf->catalog || !conf->ingest_topic || !*conf->ingest_topic || !conf->bootstrap ||
	    !*conf->bootstrap || !conf->store_conninfo)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "ingest of '%s' needs a catalog, an ingest topic, brokers and a "
		                  "store",
		                  conf->platform);
	rc = check_platform(conf->catalog, conf->platform, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(r->platform, sizeof(r->platform), "%s", conf->platform);
	cps_settings_init(&r->props);
	cps_buf_init(&r->value, 0);
	cps_buf_init(&r->key, 0);
	cps_deadletters_init(&r->dead);
	r->framing = conf->framing;
	r->catalog = conf->catalog;
	r->registry = conf->registry;
	r->batch_max = conf->batch_max ? conf->batch_max : 500;
	r->poll_timeout_ms = conf->poll_timeout_ms > 0 ? conf->poll_timeout_ms : 200;
	r->flush_timeout_ms = conf->flush_timeout_ms > 0 ? conf->flush_timeout_ms : 30000;
	r->backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : 5000;
	r->link = conf->link;
	r->status = conf->status;
	r->reopen = conf->reopen;
	r->reopen_arg = conf->reopen_arg;
	r->single_reader = conf->single_reader;
	r->leader_retry_ms = conf->leader_retry_ms > 0 ? conf->leader_retry_ms : 2000;
	r->identity = conf->identity;
	snprintf(r->instance, sizeof(r->instance), "%s", conf->instance ? conf->instance : "");
	if (conf->limits) {
		r->limits = *conf->limits;
		r->has_limits = true;
	}
	r->ingest_topic = strdup(conf->ingest_topic);
	r->dead_letter_topic = dup_or_null(conf->dead_letter_topic);
	r->store_conninfo = strdup(conf->store_conninfo);
	r->bootstrap = strdup(conf->bootstrap);
	r->acks = cps_ingest_acks_new(conf->ingest_topic);
	if (!r->ingest_topic || !r->store_conninfo || !r->bootstrap || !r->acks ||
	    (conf->dead_letter_topic && *conf->dead_letter_topic && !r->dead_letter_topic) ||
	    (conf->kafka_props && cps_settings_copy(&r->props, conf->kafka_props) < 0)) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		struct cps_schema *s = cps_catalog_by_entity(conf->catalog, cps_entities[i]);

		if (!s) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "the schema catalog has no '%s' schema", cps_entities[i]);
			goto out_free;
		}
		rc = cps_codec_new(s, conf->limits, &r->codec[i], errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_free;
	}
	rc = cps_event_codec_new(conf->catalog, &r->events, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	rc = producer_new(r, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	r->source = conf->source;
	if (r->link)
		cps_link_set_state(r->link, CPS_LINK_STARTING);
	pthread_mutex_init(&r->replay_lock, NULL);
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		pthread_mutex_destroy(&r->replay_lock);
		r->source = NULL;
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "cannot start the ingest thread of '%s'", conf->platform);
		goto out_free;
	}
	*out = r;
	return CPS_OK;

out_free:
	runner_free(r);
	return rc;
}

void cps_ingest_pause(struct cps_ingest *r)
{
	atomic_store(&r->paused, true);
}

void cps_ingest_resume(struct cps_ingest *r)
{
	atomic_store(&r->paused, false);
}

void cps_ingest_stop_and_join(struct cps_ingest *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	cps_source_close(r->source);
	r->source = NULL;
	leader_release(r); /* after the source: another instance may take over now */
	pthread_mutex_destroy(&r->replay_lock);
	runner_free(r);
}

void cps_ingest_get_stats(struct cps_ingest *r, struct cps_ingest_stats *out)
{
	out->accepted = atomic_load(&r->accepted);
	out->dead_letters = atomic_load(&r->dead_letters);
	out->errors = atomic_load(&r->errors);
	out->commits = atomic_load(&r->commits);
	out->restarts = atomic_load(&r->restarts);
}

/* ---------------------------------------------------- restart, replay */

int cps_ingest_restart(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	if (!r->reopen)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the source of '%s' has no way to reopen, it cannot restart",
		                  r->platform);
	atomic_store(&r->restart, true);
	return CPS_OK;
}

bool cps_ingest_paused(struct cps_ingest *r)
{
	return atomic_load(&r->paused);
}

/* The replay path: a struct cps_ingest without a thread or a source, with
 * the runner's configuration and its own codecs and producer.
 * @locks r->replay_lock MUST be held */
static int replay_path_new(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	struct cps_ingest *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(p->platform, sizeof(p->platform), "%s", r->platform);
	cps_settings_init(&p->props);
	cps_buf_init(&p->value, 0);
	cps_buf_init(&p->key, 0);
	cps_deadletters_init(&p->dead);
	p->framing = r->framing;
	p->catalog = r->catalog;
	p->registry = r->registry;
	p->flush_timeout_ms = r->flush_timeout_ms < 10000 ? r->flush_timeout_ms : 10000;
	p->ingest_topic = strdup(r->ingest_topic);
	p->store_conninfo = strdup(r->store_conninfo);
	p->bootstrap = strdup(r->bootstrap);
	p->acks = cps_ingest_acks_new(r->ingest_topic);
	p->identity = r->identity;
	if (!p->ingest_topic || !p->store_conninfo || !p->bootstrap || !p->acks ||
	    cps_settings_copy(&p->props, &r->props) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		struct cps_schema *s = cps_catalog_by_entity(r->catalog, cps_entities[i]);

		if (!s) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "the schema catalog has no '%s' schema", cps_entities[i]);
			goto out_free;
		}
		rc = cps_codec_new(s, r->has_limits ? &r->limits : NULL, &p->codec[i], errstr,
		                   errstr_size);
		if (rc != CPS_OK)
			goto out_free;
	}
	rc = cps_event_codec_new(r->catalog, &p->events, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	rc = producer_new(p, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	r->replay = p;
	return CPS_OK;

out_free:
	runner_free(p);
	return rc;
}

/* A replayed dead letter counts as replayed only once the store has it (as a
 * source's position, ingest_ack.h): the ingest topic alone may still lose
 * it. On a timeout the dead letter stays as it was; replaying it again is
 * harmless (applying an event twice changes nothing). */
static int replay_wait_applied(struct cps_ingest *p, char *errstr, size_t errstr_size)
{
	int64_t until = cps_mono_ms() + REPLAY_APPLY_MS;
	const struct cps_position *pos;
	size_t n_pos, n_batches = 0;
	int rc;

	cps_ingest_acks_clear(p->acks);
	if (cps_ingest_acks_push(p->acks, NULL, 0, p->produced, p->n_produced, 1) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	while (!n_batches) {
		if (cps_mono_ms() > until)
			return cps_seterr(
			    CPS_ERR_RETRIABLE, errstr, errstr_size,
			    "the replayed message is on the ingest topic but the "
			    "store has not applied it within %d ms",
			    REPLAY_APPLY_MS);
		if (cps_ingest_topic_verified(p->identity)) {
			if (!p->store) {
				rc = cps_store_open(p->store_conninfo, &p->store, errstr,
				                    errstr_size);
				if (rc != CPS_OK) {
					p->store = NULL;
					return rc == CPS_ERR_INVALID ? CPS_ERR_RETRIABLE : rc;
				}
			}
			rc = cps_ingest_acks_release(p->acks, p->store, &pos, &n_pos, &n_batches,
			                             errstr, errstr_size);
			if (rc != CPS_OK) {
				cps_store_close(p->store);
				p->store = NULL;
				return rc;
			}
		}
		if (!n_batches) {
			struct timespec ts = {0, ACK_CHECK_MS * 1000000};

			nanosleep(&ts, NULL);
		}
	}
	return CPS_OK;
}

int cps_ingest_replay(struct cps_ingest *r, const struct cps_ingest_replay_msg *msg, char *reason,
                      size_t reason_size, char *errstr, size_t errstr_size)
{
	struct cps_source_msg m;
	struct cps_ingest *p;
	rd_kafka_resp_err_t err;
	char fatal[256];
	int rc;

	memset(&m, 0, sizeof(m));
	m.entity = msg->entity && *msg->entity ? msg->entity : NULL;
	m.key = msg->key;
	m.key_len = msg->key ? msg->key_len : 0;
	m.value = msg->value;
	m.value_len = msg->value ? msg->value_len : 0;
	m.source_ts_ms = -1;
	snprintf(m.pos.stream, sizeof(m.pos.stream), "%s", "dead-letter replay");
	m.pos.offset = -1;
	snprintf(m.origin, sizeof(m.origin), "%s", msg->origin ? msg->origin : "");

	pthread_mutex_lock(&r->replay_lock);
	if (!r->replay) {
		rc = replay_path_new(r, errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_unlock;
	}
	p = r->replay;
	/* what an earlier failed replay left in flight does not count now */
	rd_kafka_flush(p->rk, p->flush_timeout_ms);
	p->dr_failed = 0;
	p->dr_first_error[0] = '\0';
	p->n_produced = 0;
	p->batch_accepted = 0;
	p->batch_newest_effective = -1;
	cps_deadletters_reset(&p->dead);
	rc = ingest_message(p, &m, cps_wall_ms(), errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_unlock;
	if (p->dead.n) {
		snprintf(reason, reason_size, "%s", p->dead.text[0].reason);
		rc = CPS_ERR_INVALID;
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "the message is still a dead letter");
		goto out_unlock;
	}
	err = rd_kafka_flush(p->rk, p->flush_timeout_ms);
	if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "replay producer fatal error: %s", fatal);
		producer_free(p);
		if (producer_new(p, fatal, sizeof(fatal)) != CPS_OK)
			cps_log_warn(FACILITY, "recreating the replay producer of '%s': %s",
			             r->platform, fatal);
		goto out_unlock;
	}
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                     "replay flush timed out after %d ms", p->flush_timeout_ms);
		goto out_unlock;
	}
	if (p->dr_failed) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "replay failed: %s",
		                     p->dr_first_error);
		goto out_unlock;
	}
	rc = replay_wait_applied(p, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_unlock;
	atomic_fetch_add(&r->accepted, p->batch_accepted);
	if (r->link)
		atomic_fetch_add(&r->link->records, p->batch_accepted);
	rc = CPS_OK;
out_unlock:
	pthread_mutex_unlock(&r->replay_lock);
	return rc;
}
