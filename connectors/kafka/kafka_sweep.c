/*
 * The Kafka source's sweep read (connector.h: sweep_read): the province's
 * topics read from their beginning up to the high watermarks taken at the
 * start, by a consumer of its own that assigns partitions (joins no group,
 * commits nothing), in chunks of held messages. The streaming source and
 * its group are not touched.
 */
#include "connectors/kafka/kafka_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "kafka/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_TIMEOUT_MS 10000 /* each request, and the longest wait for a message */

struct sweep_read {
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts; /* offset: the high watermark at the start */
	int64_t *next;                          /* per partition: the next offset to read */
	rd_kafka_message_t **held;
	struct cps_source_msg *msgs;
	struct cps_header *hdrs;
	size_t n, n_hdrs, cap_hdrs;
	const char *platform;
	const struct cps_settings *settings;
};

static void sweep_release_held(struct sweep_read *r)
{
	for (size_t i = 0; i < r->n; i++)
		rd_kafka_message_destroy(r->held[i]);
	r->n = 0;
	r->n_hdrs = 0;
}

/* The watermarks: each partition's high one into parts (offset), and the
 * assignment from its low one; *left counts partitions with messages. */
static int sweep_assign(struct sweep_read *r, size_t *left, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(r->parts->cnt);
	rd_kafka_resp_err_t err = 0;

	*left = 0;
	for (int i = 0; i < r->parts->cnt && !err; i++) {
		rd_kafka_topic_partition_t *p = &r->parts->elems[i];
		int64_t lo = -1, hi = -1;

		err = rd_kafka_query_watermark_offsets(r->rk, p->topic, p->partition, &lo, &hi,
		                                       SWEEP_TIMEOUT_MS);
		p->offset = hi;
		r->next[i] = lo;
		if (!err && hi > lo) {
			rd_kafka_topic_partition_list_add(a, p->topic, p->partition)->offset = lo;
			(*left)++;
		}
	}
	if (!err && *left)
		err = rd_kafka_assign(r->rk, a);
	rd_kafka_topic_partition_list_destroy(a);
	if (err)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "sweep: reading or assigning the partitions failed: %s",
		                  rd_kafka_err2str(err));
	return CPS_OK;
}

static int sweep_take(struct sweep_read *r, rd_kafka_message_t *rkm)
{
	struct cps_source_msg *m = &r->msgs[r->n];

	kafka_msg_fill(m, rkm, r->platform,
	               kafka_topic_entity(r->settings, rd_kafka_topic_name(rkm->rkt)));
	/* header pointers index r->hdrs, fixed once the chunk is complete */
	m->headers = (const struct cps_header *)(uintptr_t)r->n_hdrs;
	if (kafka_msg_take_headers(rkm, m, &r->hdrs, &r->n_hdrs, &r->cap_hdrs) < 0)
		return -1;
	r->held[r->n++] = rkm;
	return 0;
}

static int sweep_flush(struct sweep_read *r, const struct cps_sweep_sink *sink, char *errstr,
                       size_t errstr_size)
{
	int rc = CPS_OK;

	for (size_t i = 0; i < r->n; i++)
		r->msgs[i].headers =
		    r->msgs[i].n_headers ? &r->hdrs[(uintptr_t)r->msgs[i].headers] : NULL;
	if (r->n)
		rc = sink->emit(sink->arg, r->msgs, r->n, errstr, errstr_size);
	sweep_release_held(r);
	return rc;
}

/* Consumes until every partition reached its high watermark of the start. */
static int sweep_consume(struct sweep_read *r, size_t left, size_t chunk,
                         const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	int64_t idle_since = cps_mono_ms();
	int rc = CPS_OK;

	while (left > 0 && rc == CPS_OK) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->rk, 100);
		int i;

		if (sink->stop && atomic_load(sink->stop))
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sweep stopped");
		if (!rkm) {
			if (cps_mono_ms() - idle_since > SWEEP_TIMEOUT_MS)
				return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
				                  "sweep: no message for %d ms before the end of "
				                  "%zu partitions",
				                  SWEEP_TIMEOUT_MS, left);
			continue;
		}
		idle_since = cps_mono_ms();
		if (rkm->err) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		for (i = 0; i < r->parts->cnt; i++)
			if (r->parts->elems[i].partition == rkm->partition &&
			    !strcmp(r->parts->elems[i].topic, rd_kafka_topic_name(rkm->rkt)))
				break;
		if (i == r->parts->cnt || rkm->offset >= r->parts->elems[i].offset ||
		    rkm->offset < r->next[i]) {
			rd_kafka_message_destroy(rkm); /* past the end of the start, or again */
			continue;
		}
		r->next[i] = rkm->offset + 1;
		if (r->next[i] >= r->parts->elems[i].offset)
			left--;
		if (sweep_take(r, rkm) < 0) {
			rd_kafka_message_destroy(rkm);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		if (r->n == chunk)
			rc = sweep_flush(r, sink, errstr, errstr_size);
	}
	if (rc == CPS_OK)
		rc = sweep_flush(r, sink, errstr, errstr_size);
	return rc;
}

/* Announces each entity a topic carries, once. */
static int sweep_entities(struct sweep_read *r, const struct cps_sweep_sink *sink, char *errstr,
                          size_t errstr_size)
{
	for (int i = 0; i < r->parts->cnt; i++) {
		const char *e = kafka_topic_entity(r->settings, r->parts->elems[i].topic);
		bool seen = false;
		int rc;

		for (int j = 0; e && j < i && !seen; j++) {
			const char *o = kafka_topic_entity(r->settings, r->parts->elems[j].topic);

			seen = o && !strcmp(o, e);
		}
		if (!e || seen)
			continue;
		rc = sink->entity(sink->arg, e, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

int kafka_sweep_read(const char *platform, const struct cps_settings *settings, size_t chunk,
                     const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	char client_id[CPS_PLATFORM_MAX + 32];
	struct sweep_read r = {.platform = platform, .settings = settings};
	rd_kafka_conf_t *conf;
	size_t left = 0;
	int rc;

	snprintf(client_id, sizeof(client_id), "cpsync-%s-sweep", platform);
	{
		/* assign needs a group id; this one is never joined nor committed to */
		const char *const fixed[][2] = {{"group.id", "cpsync-sweep"},
		                                {"client.id", client_id},
		                                {"enable.auto.commit", "false"},
		                                {"enable.auto.offset.store", "false"},
		                                {"enable.partition.eof", "false"}};

		conf = cps_kafka_conf_new_with(CPS_KAFKA_CONSUMER,
		                               cps_settings_get(settings, "brokers"), settings,
		                               fixed, CPS_ARRAY_SIZE(fixed), errstr, errstr_size);
	}
	r.rk = conf ? cps_kafka_client_new(RD_KAFKA_CONSUMER, conf, "kafka sweep consumer", errstr,
	                                   errstr_size)
	            : NULL;
	if (!r.rk)
		return CPS_ERR_INVALID;
	rc = kafka_topic_partitions(r.rk, settings, &r.parts, errstr, errstr_size);
	if (rc == CPS_OK) {
		r.next = calloc((size_t)r.parts->cnt + 1, sizeof(*r.next));
		r.held = calloc(chunk, sizeof(*r.held));
		r.msgs = calloc(chunk, sizeof(*r.msgs));
		if (!r.next || !r.held || !r.msgs)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (rc == CPS_OK)
		rc = sweep_assign(&r, &left, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = sweep_entities(&r, sink, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = sweep_consume(&r, left, chunk, sink, errstr, errstr_size);
	sweep_release_held(&r);
	if (r.parts)
		rd_kafka_topic_partition_list_destroy(r.parts);
	rd_kafka_consumer_close(r.rk);
	rd_kafka_destroy(r.rk);
	free(r.next);
	free(r.held);
	free(r.msgs);
	free(r.hdrs);
	return rc;
}
