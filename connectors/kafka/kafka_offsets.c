/*
 * The Kafka source's offsets (connector.h: offsets_get, offsets_reset), as
 * KIP-875 does them: the consumer group's committed offsets next to each
 * partition's log end, read by a short-lived consumer of the same group that
 * joins nothing. A reset commits through the paused source's own consumer
 * (a member of the group), or without one through that short-lived consumer
 * (Kafka accepts it while the group is empty).
 */
#include "connectors/kafka/kafka_int.h"
#include "connectors/connector.h"
#include "base/clock.h"
#include "kafka/client.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OFFSETS_TIMEOUT_MS 10000 /* each Kafka request */
#define COMMIT_RETRY_MS    15000 /* a reset retries while the group settles */

static rd_kafka_t *offsets_client(const char *platform, const struct cps_settings *settings,
                                  char *errstr, size_t errstr_size)
{
	char client_id[CPS_PLATFORM_MAX + 32];
	rd_kafka_conf_t *conf;

	snprintf(client_id, sizeof(client_id), "cpsync-%s-offsets", platform);
	{
		const char *const fixed[][2] = {
		    {"group.id", cps_settings_get(settings, "group_id")},
		    {"client.id", client_id},
		    {"enable.auto.commit", "false"},
		    {"enable.auto.offset.store", "false"},
		};

		conf = cps_kafka_conf_new_with(CPS_KAFKA_CONSUMER,
		                               cps_settings_get(settings, "brokers"), settings,
		                               fixed, CPS_ARRAY_SIZE(fixed), errstr, errstr_size);
	}
	if (!conf)
		return NULL;
	return cps_kafka_client_new(RD_KAFKA_CONSUMER, conf, "kafka offsets consumer", errstr,
	                            errstr_size);
}

/* Every partition of the source's topics (from the "topics" setting). */
int kafka_topic_partitions(rd_kafka_t *rk, const struct cps_settings *settings,
                           rd_kafka_topic_partition_list_t **out, char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	char *topics = strdup(cps_settings_get(settings, "topics"));
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
	char *save = NULL;
	int rc = CPS_OK;

	if (!topics)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (char *t = strtok_r(topics, ", \t", &save); t && rc == CPS_OK;
	     t = strtok_r(NULL, ", \t", &save)) {
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, t, NULL);
		rd_kafka_resp_err_t err =
		    rkt ? rd_kafka_metadata(rk, 0, rkt, &md, OFFSETS_TIMEOUT_MS)
		        : rd_kafka_last_error();

		if (!err && md->topic_cnt == 1 && md->topics[0].err)
			err = md->topics[0].err;
		if (err)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                "reading the partitions of topic '%s' failed: %s", t,
			                rd_kafka_err2str(err));
		for (int i = 0; rc == CPS_OK && md && i < md->topics[0].partition_cnt; i++)
			rd_kafka_topic_partition_list_add(parts, t, md->topics[0].partitions[i].id);
		if (md)
			rd_kafka_metadata_destroy(md);
		md = NULL;
		if (rkt)
			rd_kafka_topic_destroy(rkt);
	}
	free(topics);
	if (rc != CPS_OK) {
		rd_kafka_topic_partition_list_destroy(parts);
		return rc;
	}
	*out = parts;
	return CPS_OK;
}

/* The entries of `parts` (offsets: committed, next to read) with their log
 * ends. A partition without a committed offset shows offset -1 and the lag
 * from its low watermark. */
static int describe_partitions(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                               struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		struct cps_offset_entry e;
		int64_t lo = -1, hi = -1;
		rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
		    rk, p->topic, p->partition, &lo, &hi, OFFSETS_TIMEOUT_MS);

		if (err)
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                  "reading the log end of '%s' [%" PRId32 "] failed: %s",
			                  p->topic, p->partition, rd_kafka_err2str(err));
		cps_offset_entry_init(&e, "partition", p->topic);
		e.partition = p->partition;
		e.offset = p->offset >= 0 ? p->offset : -1;
		e.end = hi;
		e.lag = hi - (p->offset >= 0 ? p->offset : lo);
		if (e.lag < 0)
			e.lag = 0;
		if (cps_offsets_add(out, &e) != CPS_OK)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	return CPS_OK;
}

/* The group's committed offsets of `parts`, read into them and appended to
 * `out` with their log ends. */
static int describe_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                              struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	rd_kafka_resp_err_t err = rd_kafka_committed(rk, parts, OFFSETS_TIMEOUT_MS);

	if (err)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "reading the group's committed offsets failed: %s",
		                  rd_kafka_err2str(err));
	return describe_partitions(rk, parts, out, errstr, errstr_size);
}

int kafka_offsets_get(const char *platform, const struct cps_settings *settings,
                      struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_t *rk = offsets_client(platform, settings, errstr, errstr_size);
	int rc;

	if (!rk)
		return CPS_ERR_RETRIABLE;
	rc = kafka_topic_partitions(rk, settings, &parts, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = describe_committed(rk, parts, out, errstr, errstr_size);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	return rc;
}

/* An explicit target's offset: a decimal offset within the partition's
 * watermarks. */
static int target_offset(const struct cps_offset_target *t, int64_t lo, int64_t hi, int64_t *out,
                         char *errstr, size_t errstr_size)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(t->offset, &end, 10);
	if (errno || end == t->offset || *end || v < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "offset '%s' of '%s' [%" PRId32 "] is not a Kafka offset",
		                  t->offset, t->stream, t->partition);
	if (v < lo || v > hi)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "offset %lld of '%s' [%" PRId32 "] lies outside the log (%" PRId64
		                  "..%" PRId64 ")",
		                  v, t->stream, t->partition, lo, hi);
	*out = v;
	return CPS_OK;
}

/* The next message of the assigned partition: its offset and timestamp. */
static int next_message(rd_kafka_t *rk, int64_t until, int64_t *off, int64_t *ts)
{
	while (cps_mono_ms() <= until) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_timestamp_type_t tt;

		if (!m)
			continue;
		if (!m->err) {
			*off = m->offset;
			*ts = rd_kafka_message_timestamp(m, &tt);
		}
		rd_kafka_message_destroy(m);
		if (*off >= 0)
			return CPS_OK;
	}
	return CPS_ERR_RETRIABLE;
}

/* Reads `a` (one partition) from `from`. */
static bool assign_at(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *a, int64_t from)
{
	a->elems[0].offset = from;
	return rd_kafka_assign(rk, a) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The first offset of `topic` [partition] in lo..hi whose timestamp is at
 * or after ts_ms, by reading the partition: for brokers that answer a
 * lookup by time with nothing (the embedded broker, librdkafka's mock
 * cluster, does not index time). Reads the last message first, so a broker
 * that truly has nothing after ts_ms costs one fetch. */
static int scan_for_time(const struct cps_settings *settings, const char *topic, int32_t partition,
                         int64_t lo, int64_t hi, int64_t ts_ms, int64_t *out, char *errstr,
                         size_t errstr_size)
{
	/* assign needs a group; this one is never joined nor committed to */
	const char *const fixed[][2] = {{"group.id", "cpsync-offsets-scan"},
	                                {"enable.auto.commit", "false"},
	                                {"enable.partition.eof", "false"}};
	rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(1);
	int64_t until = cps_mono_ms() + OFFSETS_TIMEOUT_MS * 3, off = -1, ts = -1;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	int rc = CPS_ERR_RETRIABLE;

	*out = hi;
	rd_kafka_topic_partition_list_add(a, topic, partition);
	conf = cps_kafka_conf_new_with(CPS_KAFKA_CONSUMER, cps_settings_get(settings, "brokers"),
	                               settings, fixed, CPS_ARRAY_SIZE(fixed), errstr, errstr_size);
	rk = conf ? cps_kafka_client_new(RD_KAFKA_CONSUMER, conf, "kafka offsets scan", errstr,
	                                 errstr_size)
	          : NULL;
	if (rk && assign_at(rk, a, hi - 1) && next_message(rk, until, &off, &ts) == CPS_OK) {
		rc = CPS_OK; /* the last message older than the time: nothing after it */
		if (ts >= ts_ms && assign_at(rk, a, lo)) {
			off = -1;
			while ((rc = next_message(rk, until, &off, &ts)) == CPS_OK && ts < ts_ms &&
			       off < hi - 1)
				off = -1;
			if (rc == CPS_OK && ts >= ts_ms)
				*out = off;
		}
	}
	rd_kafka_topic_partition_list_destroy(a);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	if (rk && rc != CPS_OK)
		cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		           "reading '%s' [%" PRId32 "] for the first message at the time timed out",
		           topic, partition);
	return rc;
}

/* Sets each partition's new committed offset in `parts` from `to`. */
static int reset_targets(rd_kafka_t *rk, const struct cps_settings *settings,
                         rd_kafka_topic_partition_list_t *parts, const struct cps_offsets_reset *to,
                         char *errstr, size_t errstr_size)
{
	rd_kafka_resp_err_t err;

	for (size_t i = 0; to->to == CPS_OFFSETS_EXPLICIT && i < to->n_targets; i++)
		if (!rd_kafka_topic_partition_list_find(parts, to->targets[i].stream,
		                                        to->targets[i].partition))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "'%s' [%" PRId32 "] is not a partition this source reads",
			                  to->targets[i].stream, to->targets[i].partition);
	if (to->to == CPS_OFFSETS_TIMESTAMP) {
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = to->timestamp_ms;
		err = rd_kafka_offsets_for_times(rk, parts, OFFSETS_TIMEOUT_MS);
		if (err)
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                  "looking up offsets for the time failed: %s",
			                  rd_kafka_err2str(err));
	}
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t lo, hi;

		err = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi,
		                                       OFFSETS_TIMEOUT_MS);
		if (err)
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                  "reading the log end of '%s' [%" PRId32 "] failed: %s",
			                  p->topic, p->partition, rd_kafka_err2str(err));
		switch (to->to) {
		case CPS_OFFSETS_EARLIEST:
			p->offset = lo;
			break;
		case CPS_OFFSETS_LATEST:
			p->offset = hi;
			break;
		case CPS_OFFSETS_TIMESTAMP: /* none found: read (or the end when empty) */
			if ((p->err || p->offset < 0) && hi > lo &&
			    scan_for_time(settings, p->topic, p->partition, lo, hi,
			                  to->timestamp_ms, &p->offset, errstr,
			                  errstr_size) != CPS_OK)
				return CPS_ERR_RETRIABLE;
			if (p->offset < 0)
				p->offset = hi;
			p->err = RD_KAFKA_RESP_ERR_NO_ERROR;
			break;
		case CPS_OFFSETS_EXPLICIT:
			p->offset =
			    RD_KAFKA_OFFSET_INVALID; /* untouched unless a target names it */
			for (size_t t = 0; t < to->n_targets; t++)
				if (!strcmp(to->targets[t].stream, p->topic) &&
				    to->targets[t].partition == p->partition &&
				    target_offset(&to->targets[t], lo, hi, &p->offset, errstr,
				                  errstr_size) != CPS_OK)
					return CPS_ERR_INVALID;
			break;
		}
	}
	return CPS_OK;
}

/* Commits `parts` (entries with an invalid offset left out), retrying while
 * the group settles after its last member left. */
static int commit_offsets(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                          char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *commit = rd_kafka_topic_partition_list_new(parts->cnt);
	int64_t until = cps_mono_ms() + COMMIT_RETRY_MS;
	rd_kafka_resp_err_t err;

	for (int i = 0; i < parts->cnt; i++)
		if (parts->elems[i].offset >= 0)
			rd_kafka_topic_partition_list_add(commit, parts->elems[i].topic,
			                                  parts->elems[i].partition)
			    ->offset = parts->elems[i].offset;
	for (;;) {
		err = commit->cnt ? rd_kafka_commit(rk, commit, 0 /* synchronous */)
		                  : RD_KAFKA_RESP_ERR_NO_ERROR;
		for (int i = 0; !err && i < commit->cnt; i++)
			err = commit->elems[i].err;
		if (!err || cps_mono_ms() > until)
			break;
		struct timespec ts = {0, 200 * 1000000};

		nanosleep(&ts, NULL);
	}
	rd_kafka_topic_partition_list_destroy(commit);
	if (err)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "committing the new offsets failed: %s (is another instance "
		                  "of the group still consuming? pause it too)",
		                  rd_kafka_err2str(err));
	return CPS_OK;
}

/* The open source's consumer as a current member of its group: polled
 * (its messages dropped: the source is closed after the reset) until it
 * holds an assignment, as a paused consumer may have been dropped from the
 * group meanwhile. */
static int await_membership(rd_kafka_t *rk, char *errstr, size_t errstr_size)
{
	int64_t until = cps_mono_ms() + COMMIT_RETRY_MS, polls = 0;

	for (;;) {
		rd_kafka_topic_partition_list_t *parts = NULL;
		bool member;

		if (polls++ >= 3 && !rd_kafka_assignment(rk, &parts) && parts) {
			member = parts->cnt > 0;
			rd_kafka_topic_partition_list_destroy(parts);
			if (member)
				return CPS_OK;
		}
		if (cps_mono_ms() > until)
			return cps_seterr(
			    CPS_ERR_RETRIABLE, errstr, errstr_size,
			    "the source's consumer holds no partition of its group "
			    "(another instance may hold them all: pause it and reset there)");
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m)
			rd_kafka_message_destroy(m);
	}
}

/* With `open`, the reset commits through the open source's consumer, a
 * member of the group (the only way on the embedded broker, whose
 * coordinator refuses commits from outside the group once it exists);
 * without, through a consumer of its own that joins nothing (Kafka accepts
 * that while the group is empty). */
int kafka_offsets_reset(const char *platform, const struct cps_settings *settings,
                        struct cps_conn *open, const struct cps_offsets_reset *to,
                        struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_t *rk = open ? ((struct kafka_source *)open)->rk
	                      : offsets_client(platform, settings, errstr, errstr_size);
	int rc;

	if (!rk)
		return CPS_ERR_RETRIABLE;
	rc = kafka_topic_partitions(rk, settings, &parts, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = reset_targets(rk, settings, parts, to, errstr, errstr_size);
	if (rc == CPS_OK && open)
		rc = await_membership(rk, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = commit_offsets(rk, parts, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = describe_committed(rk, parts, out, errstr, errstr_size);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (!open)
		rd_kafka_destroy(rk);
	return rc;
}
