/*
 * The Kafka connector. Source: a high-level consumer in a consumer group,
 * manual offset commits of exactly what the engine acknowledged. Sink: an
 * idempotent producer (acks=all), one topic per entity, delivery reports
 * counted and checked at flush. Every "properties.*" setting passes straight
 * to librdkafka (TLS, SASL, compression, linger.ms, ...).
 */
#include "connectors/connector.h"
#include "base/arena.h"
#include "base/clock.h"

#include "connectors/builtin.h"
#include "connectors/kafka/kafka_int.h"
#include "kafka/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEADER_ORIGIN "cpsync-origin"
#define HEADER_ENTITY "cpsync-entity"

static const struct cps_setting_decl kafka_settings[] = {
    {"brokers", CPS_SETTING_LIST, NULL, 0, 0, CPS_SETTING_BOTH | CPS_SETTING_REQUIRED,
     "bootstrap servers, host:port[,host:port...]"},
    {"group_id", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE | CPS_SETTING_REQUIRED,
     "consumer group of the source; instances sharing it split the partitions"},
    {"topics", CPS_SETTING_LIST, NULL, 0, 0, CPS_SETTING_SOURCE | CPS_SETTING_REQUIRED,
     "topics the source consumes, comma-separated"},
    {"topic.*.entity", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE,
     "entity carried by a consumed topic (person, household, ...): the messages' entity hint"},
    {"entity.*.topic", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SINK,
     "topic the sink produces records of an entity to"},
    {"auto.offset.reset", CPS_SETTING_STRING, "earliest", 0, 0, CPS_SETTING_SOURCE,
     "where a group without a committed offset starts: earliest or latest"},
    {"queue_full_timeout_ms", CPS_SETTING_INT, "30000", 0, 3600000, CPS_SETTING_SINK,
     "how long put waits for room in a full producer queue before failing"},
    {"properties.*", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_BOTH,
     "any librdkafka configuration property, passed through"},
    {"kafka.properties.*", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_BOTH,
     "same as properties.*"},
};

/* Properties cpsync's delivery guarantees depend on: not overridable. */
static const char *const managed_properties[] = {
    "bootstrap.servers",        "group.id",           "enable.auto.commit",
    "enable.auto.offset.store", "enable.idempotence", "auto.offset.reset",
};

/* The client configuration: the brokers, the user's properties and the
 * properties we manage (which the user may not set), then our defaults where
 * the user set nothing. */
static rd_kafka_conf_t *client_conf(enum cps_kafka_client kind, const struct cps_settings *settings,
                                    const char *const (*fixed)[2], size_t n_fixed,
                                    const char *const (*defaults)[2], size_t n_defaults,
                                    char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf;

	for (size_t i = 0; i < CPS_ARRAY_SIZE(managed_properties); i++)
		if (cps_kafka_property_set(settings, managed_properties[i])) {
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			           "kafka property '%s' is managed by cpsync and may not be set",
			           managed_properties[i]);
			return NULL;
		}
	conf = cps_kafka_conf_new_with(kind, cps_settings_get(settings, "brokers"), settings, fixed,
	                               n_fixed, errstr, errstr_size);
	for (size_t i = 0; conf && i < n_defaults; i++)
		if (!cps_kafka_property_set(settings, defaults[i][0]) &&
		    cps_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size) !=
		        CPS_OK) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	return conf;
}

/* ---------------------------------------------------------------- source */

static void source_release_held(struct kafka_source *s)
{
	for (size_t i = 0; i < s->n_held; i++)
		rd_kafka_message_destroy(s->held[i].rkm);
	s->n_held = 0;
	s->n_hdrs = 0;
}

static void kafka_source_close(struct cps_conn *c)
{
	struct kafka_source *s = (struct kafka_source *)c;

	if (!s)
		return;
	source_release_held(s);
	if (s->rk) {
		rd_kafka_consumer_close(s->rk);
		rd_kafka_destroy(s->rk);
	}
	free(s->topics);
	cps_arena_release(&s->names);
	free(s->held);
	free(s->msgs);
	free(s->hdrs);
	free(s);
}

/* Splits the "topics" list and looks up each topic's entity. */
static int source_parse_topics(struct kafka_source *s, const struct cps_settings *settings,
                               char *errstr, size_t errstr_size)
{
	const char *p = cps_settings_get(settings, "topics");
	size_t n = 1;

	for (const char *q = p; *q; q++)
		n += *q == ',';
	cps_arena_init(&s->names, 1024);
	s->topics = calloc(n, sizeof(*s->topics));
	if (!s->topics)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		struct kafka_topic *t = &s->topics[s->n_topics];
		const char *entity;

		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= CPS_STREAM_MAX)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting 'topics' has an empty or too long topic name");
		t->name = cps_arena_strndup(&s->names, p, len);
		if (!t->name)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		s->n_topics++;
		entity = kafka_topic_entity(settings, t->name);
		if (entity && !(t->entity = cps_arena_strdup(&s->names, entity)))
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (!comma)
			break;
		p = comma + 1;
	}
	/* a mapping for a topic not consumed is a configuration mistake */
	{
		const struct cps_setting *kv;
		size_t it = 0;

		while ((kv = cps_settings_next(settings, "topic.", &it))) {
			bool found = false;

			for (size_t i = 0; i < s->n_topics && !found; i++) {
				size_t len = strlen(s->topics[i].name);

				found = strncmp(kv->key + 6, s->topics[i].name, len) == 0 &&
				        strcmp(kv->key + 6 + len, ".entity") == 0;
			}
			if (!found)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "setting '%s' names a topic not in 'topics'",
				                  kv->key);
		}
	}
	return CPS_OK;
}

static int kafka_source_open(const char *platform, const struct cps_settings *settings,
                             struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct kafka_source *s = calloc(1, sizeof(*s));
	rd_kafka_topic_partition_list_t *subscription = NULL;
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_resp_err_t err;
	char client_id[CPS_PLATFORM_MAX + 32];
	int rc;

	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_conn_status_reset(&s->counts);
	rc = source_parse_topics(s, settings, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	snprintf(client_id, sizeof(client_id), "cpsync-%s-source", platform);
	{
		const char *const defaults[][2] = {
		    {"client.id", client_id},
		    {"enable.partition.eof", "false"},
		};
		const char *const fixed[][2] = {
		    {"group.id", cps_settings_get(settings, "group_id")},
		    {"auto.offset.reset", cps_settings_get(settings, "auto.offset.reset")},
		    {"enable.auto.commit", "false"},
		    {"enable.auto.offset.store", "false"},
		};

		conf = client_conf(CPS_KAFKA_CONSUMER, settings, fixed, CPS_ARRAY_SIZE(fixed),
		                   defaults, CPS_ARRAY_SIZE(defaults), errstr, errstr_size);
	}
	if (!conf) {
		rc = CPS_ERR_INVALID;
		goto out_close;
	}
	s->rk =
	    cps_kafka_client_new(RD_KAFKA_CONSUMER, conf, "kafka consumer", errstr, errstr_size);
	if (!s->rk) {
		rc = CPS_ERR_INVALID;
		goto out_close;
	}
	rd_kafka_poll_set_consumer(s->rk);
	subscription = rd_kafka_topic_partition_list_new((int)s->n_topics);
	for (size_t i = 0; i < s->n_topics; i++)
		rd_kafka_topic_partition_list_add(subscription, s->topics[i].name,
		                                  RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(s->rk, subscription);
	rd_kafka_topic_partition_list_destroy(subscription);
	if (err) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "subscribing to the topics failed: %s", rd_kafka_err2str(err));
		goto out_close;
	}
	*out = &s->base;
	return CPS_OK;

out_close:
	kafka_source_close(&s->base);
	return rc;
}

static const char *topic_entity(const struct kafka_source *s, const char *topic)
{
	for (size_t i = 0; i < s->n_topics; i++)
		if (strcmp(s->topics[i].name, topic) == 0)
			return s->topics[i].entity;
	return NULL;
}

static int source_reserve(struct kafka_source *s, size_t max)
{
	if (max > s->cap) {
		struct held_msg *held = realloc(s->held, max * sizeof(*held));
		struct cps_source_msg *msgs;

		if (!held)
			return -1;
		s->held = held;
		msgs = realloc(s->msgs, max * sizeof(*msgs));
		if (!msgs)
			return -1;
		s->msgs = msgs;
		s->cap = max;
	}
	return 0;
}

/* An error for the caller, counted in `counts` (the source's or the sink's). */
static int report_error(struct cps_conn_status *counts, int rc, char *errstr, size_t errstr_size,
                        const char *text)
{
	cps_conn_status_error(counts, text);
	return cps_seterr(rc, errstr, errstr_size, "%s", text);
}

/* @locality the single thread that uses this source */
static int kafka_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
                             int timeout_ms, char *errstr, size_t errstr_size)
{
	struct kafka_source *s = (struct kafka_source *)c;
	int64_t deadline = cps_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char why[256];
	size_t n = 0;

	source_release_held(s);
	batch->msgs = NULL;
	batch->n = 0;
	if (s->pending_rc) {
		int rc = s->pending_rc;

		s->pending_rc = 0;
		return report_error(&s->counts, rc, errstr, errstr_size, s->pending);
	}
	if (max == 0)
		return CPS_OK;
	if (source_reserve(s, max) < 0)
		return report_error(&s->counts, CPS_ERR_RETRIABLE, errstr, errstr_size,
		                    "out of memory");
	while (n < max) {
		int64_t left = deadline - cps_mono_ms();
		rd_kafka_message_t *rkm;
		int rc;

		/* wait for the first message only; then take what is already here */
		rkm = rd_kafka_consumer_poll(s->rk, n == 0 && left > 0 ? (int)left : 0);
		if (!rkm) {
			if (n > 0 || left <= 0)
				break;
			continue;
		}
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		if (rkm->err) {
			rc = CPS_ERR_RETRIABLE;
			if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
				char fatal[200];

				rd_kafka_fatal_error(s->rk, fatal, sizeof(fatal));
				snprintf(why, sizeof(why), "kafka consumer fatal error: %s", fatal);
				rc = CPS_ERR_FATAL;
			} else if (rkm->rkt) {
				snprintf(why, sizeof(why),
				         "kafka consumer error on '%s' [%" PRId32 "]: %s",
				         rd_kafka_topic_name(rkm->rkt), rkm->partition,
				         rd_kafka_message_errstr(rkm));
			} else {
				snprintf(why, sizeof(why), "kafka consumer error: %s",
				         rd_kafka_message_errstr(rkm));
			}
			rd_kafka_message_destroy(rkm);
			if (n == 0 || rc == CPS_ERR_FATAL) {
				source_release_held(s);
				return report_error(&s->counts, rc, errstr, errstr_size, why);
			}
			/* hand out what we have; the error comes with the next poll */
			s->pending_rc = rc;
			snprintf(s->pending, sizeof(s->pending), "%s", why);
			break;
		}
		s->held[n].rkm = rkm;
		s->held[n].hdr_start = s->n_hdrs;
		s->n_held = n + 1;
		kafka_msg_fill(&s->msgs[n], rkm, s->base.platform,
		               topic_entity(s, rd_kafka_topic_name(rkm->rkt)));
		if (kafka_msg_take_headers(rkm, &s->msgs[n], &s->hdrs, &s->n_hdrs, &s->cap_hdrs) <
		    0) {
			/* keep the message: it is only handed out once */
			s->msgs[n].n_headers = 0;
		}
		n++;
	}
	for (size_t i = 0; i < n; i++)
		s->msgs[i].headers = s->msgs[i].n_headers ? &s->hdrs[s->held[i].hdr_start] : NULL;
	if (n) {
		s->counts.received += n;
		s->counts.last_msg_ms = cps_wall_ms();
	}
	batch->msgs = s->msgs;
	batch->n = n;
	return CPS_OK;
}

static int kafka_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n,
                               char *errstr, size_t errstr_size)
{
	struct kafka_source *s = (struct kafka_source *)c;
	rd_kafka_topic_partition_list_t *offsets;
	rd_kafka_resp_err_t err;
	char why[512];
	int rc = CPS_OK;

	if (n == 0)
		return CPS_OK;
	offsets = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_topic_partition_t *tp;

		if (pos[i].offset < 0) {
			snprintf(why, sizeof(why),
			         "cannot commit negative offset of '%s' [%" PRId32 "]",
			         pos[i].stream, pos[i].partition);
			rc = report_error(&s->counts, CPS_ERR_INVALID, errstr, errstr_size, why);
			goto out_destroy;
		}
		tp = rd_kafka_topic_partition_list_find(offsets, pos[i].stream, pos[i].partition);
		if (!tp)
			tp = rd_kafka_topic_partition_list_add(offsets, pos[i].stream,
			                                       pos[i].partition);
		/* the committed offset is the next message to read */
		if (tp->offset < pos[i].offset + 1)
			tp->offset = pos[i].offset + 1;
	}
	err = rd_kafka_commit(s->rk, offsets, 0 /* synchronous */);
	if (err) {
		snprintf(why, sizeof(why), "committing %d kafka offsets failed: %s", offsets->cnt,
		         rd_kafka_err2str(err));
		rc = report_error(
		    &s->counts, err == RD_KAFKA_RESP_ERR__FATAL ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
		    errstr, errstr_size, why);
		goto out_destroy;
	}
	for (int i = 0; i < offsets->cnt; i++) {
		if (!offsets->elems[i].err)
			continue;
		snprintf(why, sizeof(why), "committing the offset of '%s' [%" PRId32 "] failed: %s",
		         offsets->elems[i].topic, offsets->elems[i].partition,
		         rd_kafka_err2str(offsets->elems[i].err));
		rc = report_error(&s->counts, CPS_ERR_RETRIABLE, errstr, errstr_size, why);
		goto out_destroy;
	}
	s->counts.committed += n;
out_destroy:
	rd_kafka_topic_partition_list_destroy(offsets);
	return rc;
}

static void kafka_source_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct kafka_source *s = (struct kafka_source *)c;
	rd_kafka_topic_partition_list_t *parts = NULL;

	*st = s->counts;
	if (rd_kafka_assignment(s->rk, &parts) || !parts)
		return;
	/* no assignment yet (joining the group): lag unknown */
	if (parts->cnt > 0 && rd_kafka_position(s->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		int64_t lag = 0;

		for (int i = 0; i < parts->cnt; i++) {
			int64_t lo, hi;

			if (rd_kafka_get_watermark_offsets(s->rk, parts->elems[i].topic,
			                                   parts->elems[i].partition, &lo,
			                                   &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
			    hi < 0)
				continue;
			/* no position yet: everything from the low mark is ahead */
			lag += hi - (parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo);
		}
		st->lag = lag;
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

/* ------------------------------------------------------------------ sink */

struct kafka_sink {
	struct cps_conn base;
	rd_kafka_t *rk;
	struct cps_settings routes; /* entity.<entity>.topic */
	int64_t queue_full_timeout_ms;
	struct cps_conn_status counts; /* enqueued, delivered, failed, errors, last_* */
	uint64_t failed_since_flush;
	uint64_t refused_since_flush; /* of them, refused for good (see delivery_refused) */
	char first_failure[256];
};

/* A delivery error that retrying the same record cannot fix: the record
 * itself is refused (too large, invalid, against a policy). */
static bool delivery_refused(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR__BAD_MSG:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
		return true;
	default:
		return false;
	}
}

/* @locality the thread calling put/flush (delivery reports are served by
 * rd_kafka_poll and rd_kafka_flush there) */
static void sink_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct kafka_sink *k = opaque;

	if (rkm->err) {
		k->counts.failed++;
		if (delivery_refused(rkm->err))
			k->refused_since_flush++;
		if (k->failed_since_flush++ == 0)
			snprintf(k->first_failure, sizeof(k->first_failure),
			         "delivery to '%s' [%" PRId32 "] failed: %s",
			         rd_kafka_topic_name(rkm->rkt), rkm->partition,
			         rd_kafka_err2str(rkm->err));
		return;
	}
	k->counts.delivered++;
	k->counts.last_msg_ms = cps_wall_ms();
}

static void kafka_sink_close(struct cps_conn *c)
{
	struct kafka_sink *k = (struct kafka_sink *)c;

	if (!k)
		return;
	if (k->rk) {
		/* close does not deliver: the engine flushes first */
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(k->rk, 0);
		rd_kafka_destroy(k->rk);
	}
	cps_settings_release(&k->routes);
	free(k);
}

static int kafka_sink_open(const char *platform, const struct cps_settings *settings,
                           struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct kafka_sink *k = calloc(1, sizeof(*k));
	rd_kafka_conf_t *conf;
	const struct cps_setting *kv;
	char client_id[CPS_PLATFORM_MAX + 32];
	size_t it = 0;
	int rc;

	if (!k)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_settings_init(&k->routes);
	cps_conn_status_reset(&k->counts);
	k->queue_full_timeout_ms = cps_settings_get_int(settings, "queue_full_timeout_ms", 30000);
	while ((kv = cps_settings_next(settings, "entity.", &it))) {
		if (!*kv->value) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "setting '%s' is empty", kv->key);
			goto out_close;
		}
		if (cps_settings_set(&k->routes, kv->key, kv->value) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out_close;
		}
	}
	snprintf(client_id, sizeof(client_id), "cpsync-%s-sink", platform);
	{
		const char *const defaults[][2] = {
		    {"client.id", client_id},
		    {"acks", "all"},
		    /* the Java client's key hashing: same partitions as any producer */
		    {"partitioner", "murmur2_random"},
		    /* linger.ms: the client's latency default (kafka/client.h) */
		};
		const char *const fixed[][2] = {
		    {"enable.idempotence", "true"},
		};

		conf = client_conf(CPS_KAFKA_PRODUCER, settings, fixed, CPS_ARRAY_SIZE(fixed),
		                   defaults, CPS_ARRAY_SIZE(defaults), errstr, errstr_size);
	}
	if (!conf) {
		rc = CPS_ERR_INVALID;
		goto out_close;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, sink_delivery_report);
	rd_kafka_conf_set_opaque(conf, k);
	k->rk =
	    cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "kafka producer", errstr, errstr_size);
	if (!k->rk) {
		rc = CPS_ERR_INVALID;
		goto out_close;
	}
	*out = &k->base;
	return CPS_OK;

out_close:
	kafka_sink_close(&k->base);
	return rc;
}

static int sink_put_one(struct kafka_sink *k, const struct cps_sink_record *r, char *errstr,
                        size_t errstr_size)
{
	char key[CPS_STREAM_MAX + 16], why[512];
	const char *topic = r->stream;
	rd_kafka_headers_t *hdrs;
	rd_kafka_resp_err_t err;
	int64_t deadline;

	if (!topic || !*topic) {
		snprintf(key, sizeof(key), "entity.%s.topic", r->entity ? r->entity : "");
		topic = cps_settings_get(&k->routes, key);
		if (!topic) {
			snprintf(why, sizeof(why), "no topic for entity '%s' (set '%s')",
			         r->entity ? r->entity : "", key);
			/* a configuration error, not a poison record */
			return report_error(&k->counts, CPS_ERR_FATAL, errstr, errstr_size, why);
		}
	}
	hdrs = rd_kafka_headers_new(r->n_headers + 2);
	for (size_t i = 0; i < r->n_headers; i++)
		rd_kafka_header_add(hdrs, r->headers[i].name, -1, r->headers[i].value,
		                    (ssize_t)r->headers[i].value_len);
	if (r->origin_platform)
		rd_kafka_header_add(hdrs, HEADER_ORIGIN, -1, r->origin_platform, -1);
	if (r->entity)
		rd_kafka_header_add(hdrs, HEADER_ENTITY, -1, r->entity, -1);
	deadline = cps_mono_ms() + k->queue_full_timeout_ms;
	for (;;) {
		err = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(topic),
		                        RD_KAFKA_V_KEY((void *)r->key, r->key_len),
		                        RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
		                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cps_mono_ms() >= deadline)
			break;
		/* serve delivery reports until there is room */
		rd_kafka_poll(k->rk, 50);
	}
	if (!err) {
		k->counts.enqueued++;
		return CPS_OK;
	}
	rd_kafka_headers_destroy(hdrs); /* still ours when producev failed */
	snprintf(why, sizeof(why), "producing to '%s' failed: %s", topic, rd_kafka_err2str(err));
	switch (err) {
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
		return report_error(&k->counts, CPS_ERR_RETRIABLE, errstr, errstr_size, why);
	case RD_KAFKA_RESP_ERR__FATAL:
		return report_error(&k->counts, CPS_ERR_FATAL, errstr, errstr_size, why);
	default:
		/* the record refused for good (too large): a poison record the
		 * runner dead-letters; anything else (an unknown topic) is
		 * trouble to retry */
		return report_error(&k->counts,
		                    delivery_refused(err) ? CPS_ERR_INVALID : CPS_ERR_RETRIABLE,
		                    errstr, errstr_size, why);
	}
}

/* @locality the single thread that uses this sink */
static int kafka_sink_put(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
                          size_t *accepted, char *errstr, size_t errstr_size)
{
	struct kafka_sink *k = (struct kafka_sink *)c;
	int rc = CPS_OK;
	size_t i;

	for (i = 0; i < n; i++) {
		rc = sink_put_one(k, &recs[i], errstr, errstr_size);
		if (rc != CPS_OK)
			break;
	}
	if (accepted)
		*accepted = i;
	rd_kafka_poll(k->rk, 0);
	return rc;
}

static int kafka_sink_flush(struct cps_conn *c, int timeout_ms, char *errstr, size_t errstr_size)
{
	struct kafka_sink *k = (struct kafka_sink *)c;
	rd_kafka_resp_err_t err = rd_kafka_flush(k->rk, timeout_ms);
	char why[512], fatal[256];

	if (rd_kafka_fatal_error(k->rk, fatal, sizeof(fatal))) {
		snprintf(why, sizeof(why), "kafka producer fatal error: %s", fatal);
		return report_error(&k->counts, CPS_ERR_FATAL, errstr, errstr_size, why);
	}
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
		snprintf(why, sizeof(why),
		         "flush timed out after %d ms with %d records undelivered", timeout_ms,
		         rd_kafka_outq_len(k->rk));
		return report_error(&k->counts, CPS_ERR_RETRIABLE, errstr, errstr_size, why);
	}
	if (k->failed_since_flush) {
		/* every failure a refusal: CPS_ERR_INVALID, the runner isolates
		 * the refused record (a dead letter); otherwise trouble to retry */
		bool refused = k->refused_since_flush == k->failed_since_flush;

		snprintf(why, sizeof(why),
		         "%" PRIu64 " deliveries failed since the last flush, first: %s",
		         k->failed_since_flush, k->first_failure);
		k->failed_since_flush = 0;
		k->refused_since_flush = 0;
		k->first_failure[0] = '\0';
		return report_error(&k->counts, refused ? CPS_ERR_INVALID : CPS_ERR_RETRIABLE,
		                    errstr, errstr_size, why);
	}
	return CPS_OK;
}

static void kafka_sink_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct kafka_sink *k = (struct kafka_sink *)c;

	*st = k->counts;
	st->lag = rd_kafka_outq_len(k->rk);
}

const struct cps_connector_ops cps_kafka_connector = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "kafka",
    .settings = kafka_settings,
    .n_settings = CPS_ARRAY_SIZE(kafka_settings),
    .source_open = kafka_source_open,
    .source_poll = kafka_source_poll,
    .source_commit = kafka_source_commit,
    .source_close = kafka_source_close,
    .source_describe = kafka_source_describe,
    .offsets_get = kafka_offsets_get,
    .offsets_reset = kafka_offsets_reset,
    .sweep_read = kafka_sweep_read,
    .sink_open = kafka_sink_open,
    .sink_put = kafka_sink_put,
    .sink_flush = kafka_sink_flush,
    .sink_close = kafka_sink_close,
    .sink_describe = kafka_sink_describe,
};
