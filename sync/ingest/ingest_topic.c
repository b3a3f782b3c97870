/*
 * The ingest topic's identity check (see ingest_topic.h and ENGINE.md
 * "Ingest topic identity"): cluster id, then per stored partition the message
 * at next_offset - 1 against its stored fingerprint, then one transaction that
 * resets what belongs to an older incarnation and records the cluster id.
 */
#include "ingest/ingest_topic.h"
#include "store/pgerr.h"

#include "kafka/broker.h"
#include "base/clock.h"
#include "base/common.h"
#include "kafka/kafka_topics.h"
#include "base/log.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAC         "INGEST"
#define TIMEOUT_MS  10000
#define RETRY_MS    2000
#define REASON_SIZE 256

struct cps_ingest_topic {
	struct cps_ingest_topic_conf conf; /* strings are our copies */
	struct cps_settings props;
	pthread_t thread;
	bool started;
	bool topics_ready; /* created or found (kafka_topics.h) */
	atomic_bool verified, stop;
	/* partitions read again after the broker lost messages: /readyz says
	 * so until the store has come back to where each one ended */
	struct lost {
		int32_t partition;
		int64_t until; /* the partition's high watermark when found */
	} * lost;
	size_t n_lost;
};

/* One stored partition and what the topic holds there now. */
struct stored_part {
	int32_t partition;
	int64_t next;      /* stored next offset */
	bool has_fp;       /* a fingerprint is stored */
	uint64_t fp;       /* of the message at next - 1 */
	int64_t low, high; /* the partition's watermarks now */
	enum { P_EMPTY, P_SAME, P_UNCHECKED, P_OTHER, P_BEYOND } verdict;
};

uint64_t cps_ingest_fingerprint(const void *key, size_t key_len, const void *value,
                                size_t value_len)
{
	uint64_t h = 1469598103934665603ULL;
	uint64_t n = key_len;
	const uint8_t *p;

	for (int i = 0; i < 8; i++, n >>= 8)
		h = (h ^ (n & 0xff)) * 1099511628211ULL;
	for (p = key; p && p < (const uint8_t *)key + key_len; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (p = value; p && p < (const uint8_t *)value + value_len; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

/* ---- the store side ---------------------------------------------------------- */

static int pq_fail(PGconn *c, PGresult *res, const char *what, char *errstr, size_t errstr_size)
{
	char line[200];

	PQclear(res);
	return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "store: %s: %s", what,
	                  cps_pg_conn_message(c, line, sizeof(line)));
}

/* The stored cluster id (NULL when none; caller frees) and partitions. */
static int load_stored(PGconn *c, const char *topic, char **cluster, struct stored_part **parts,
                       size_t *n, char *errstr, size_t errstr_size)
{
	const char *params[1] = {topic};
	PGresult *res;
	int rows;

	*cluster = NULL;
	*parts = NULL;
	*n = 0;
	res = PQexecParams(c, "SELECT cluster_id FROM cpsync.ingest_topics WHERE topic = $1", 1,
	                   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pq_fail(c, res, "select from ingest_topics", errstr, errstr_size);
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		*cluster = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = PQexecParams(c,
	                   "SELECT partition, next_offset, last_fingerprint FROM "
	                   "cpsync.ingest_offsets WHERE topic = $1 ORDER BY partition",
	                   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pq_fail(c, res, "select from ingest_offsets", errstr, errstr_size);
	rows = PQntuples(res);
	*parts = calloc((size_t)rows + 1, sizeof(**parts));
	if (!*parts) {
		PQclear(res);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	for (int i = 0; i < rows; i++) {
		struct stored_part *p = &(*parts)[i];

		p->partition = (int32_t)atol(PQgetvalue(res, i, 0));
		p->next = atoll(PQgetvalue(res, i, 1));
		p->has_fp = !PQgetisnull(res, i, 2);
		p->fp = p->has_fp ? (uint64_t)atoll(PQgetvalue(res, i, 2)) : 0;
	}
	*n = (size_t)rows;
	PQclear(res);
	return CPS_OK;
}

static int exec_params(PGconn *c, const char *sql, int n, const char *const *params,
                       const char *what, char *errstr, size_t errstr_size)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return pq_fail(c, res, what, errstr, errstr_size);
	PQclear(res);
	return CPS_OK;
}

/* One transaction: forget every stored offset of an older incarnation (all),
 * or move the partitions that lost messages to their low watermark; then
 * record the cluster id the offsets now belong to. */
static int store_verdict(PGconn *c, const char *topic, const char *cluster, bool reset_all,
                         const struct stored_part *parts, size_t n, char *errstr,
                         size_t errstr_size)
{
	const char *p3[3] = {topic, NULL, NULL};
	char part[16], low[24];
	int rc;

	rc = exec_params(c, "BEGIN", 0, NULL, "begin", errstr, errstr_size);
	if (rc == CPS_OK && reset_all)
		rc = exec_params(c, "DELETE FROM cpsync.ingest_offsets WHERE topic = $1", 1, p3,
		                 "delete from ingest_offsets", errstr, errstr_size);
	for (size_t i = 0; rc == CPS_OK && !reset_all && i < n; i++) {
		if (parts[i].verdict != P_BEYOND)
			continue;
		snprintf(part, sizeof(part), "%" PRId32, parts[i].partition);
		snprintf(low, sizeof(low), "%" PRId64, parts[i].low);
		p3[1] = part;
		p3[2] = low;
		rc = exec_params(c,
		                 "UPDATE cpsync.ingest_offsets SET next_offset = $3, "
		                 "last_fingerprint = NULL, updated_at = now() "
		                 "WHERE topic = $1 AND partition = $2",
		                 3, p3, "update of ingest_offsets", errstr, errstr_size);
	}
	p3[1] = cluster;
	if (rc == CPS_OK)
		rc = exec_params(
		    c,
		    "INSERT INTO cpsync.ingest_topics (topic, cluster_id) VALUES ($1, $2) "
		    "ON CONFLICT (topic) DO UPDATE SET cluster_id = EXCLUDED.cluster_id, "
		    "verified_at = now()",
		    2, p3, "upsert into ingest_topics", errstr, errstr_size);
	if (rc == CPS_OK)
		rc = exec_params(c, "COMMIT", 0, NULL, "commit", errstr, errstr_size);
	if (rc != CPS_OK)
		PQclear(PQexec(c, "ROLLBACK"));
	return rc;
}

/* ---- the Kafka side ---------------------------------------------------------- */

static rd_kafka_t *consumer_new(struct cps_ingest_topic *t, char *errstr, size_t errstr_size)
{
	static const char *const fixed[][2] = {{"group.id", "cpsync-ingest-identity"},
	                                       {"enable.auto.commit", "false"},
	                                       {"enable.auto.offset.store", "false"},
	                                       {"enable.partition.eof", "false"}};
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new_with(CPS_KAFKA_CONSUMER, t->conf.bootstrap, &t->props, fixed,
	                            CPS_ARRAY_SIZE(fixed), errstr, errstr_size);

	if (!conf)
		return NULL;
	return cps_kafka_client_new(RD_KAFKA_CONSUMER, conf, "consumer", errstr, errstr_size);
}

/* The topic's partition count now: 0 when it does not exist. */
static int partition_count(rd_kafka_t *rk, const char *topic, int *count, char *errstr,
                           size_t errstr_size)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;

	if (!rkt)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	err = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);
	rd_kafka_topic_destroy(rkt);
	if (err)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "metadata of '%s': %s",
		                  topic, rd_kafka_err2str(err));
	*count = 0;
	if (md->topic_cnt == 1 && !md->topics[0].err)
		*count = md->topics[0].partition_cnt;
	else if (md->topic_cnt == 1 &&
	         md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		err = md->topics[0].err;
		rd_kafka_metadata_destroy(md);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "metadata of '%s': %s",
		                  topic, rd_kafka_err2str(err));
	}
	rd_kafka_metadata_destroy(md);
	return CPS_OK;
}

/* Reads the message at next - 1 of every partition that still has it and
 * sets each partition's verdict. */
static int check_partitions(rd_kafka_t *rk, const char *topic, int count, struct stored_part *parts,
                            size_t n, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n + 1);
	size_t waiting = 0;
	int64_t deadline;
	int rc = CPS_OK;

	if (!list)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct stored_part *p = &parts[i];
		rd_kafka_resp_err_t err;

		if (p->partition >= count) {
			p->verdict = P_OTHER; /* the partition is gone */
			continue;
		}
		err = rd_kafka_query_watermark_offsets(rk, topic, p->partition, &p->low, &p->high,
		                                       TIMEOUT_MS);
		if (err) {
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                "watermarks of '%s' [%" PRId32 "]: %s", topic, p->partition,
			                rd_kafka_err2str(err));
			goto out;
		}
		if (p->next == 0)
			p->verdict = P_EMPTY;
		else if (p->next > p->high)
			p->verdict = P_BEYOND;
		else if (!p->has_fp || p->next - 1 < p->low)
			p->verdict = P_UNCHECKED; /* no fingerprint, or retention took it */
		else {
			p->verdict = P_UNCHECKED; /* until the message is read */
			rd_kafka_topic_partition_list_add(list, topic, p->partition)->offset =
			    p->next - 1;
			waiting++;
		}
	}
	if (!waiting)
		goto out;
	rd_kafka_assign(rk, list);
	deadline = cps_mono_ms() + TIMEOUT_MS;
	while (waiting && cps_mono_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (!m)
			continue;
		for (size_t i = 0; !m->err && i < n; i++) {
			struct stored_part *p = &parts[i];

			if (p->partition != m->partition || p->verdict != P_UNCHECKED ||
			    p->next > p->high || !p->has_fp || p->next - 1 < p->low)
				continue;
			/* compaction may have removed it: a later offset proves nothing */
			if (m->offset == p->next - 1)
				p->verdict = cps_ingest_fingerprint(m->key, m->key_len, m->payload,
				                                    m->len) == p->fp
				                 ? P_SAME
				                 : P_OTHER;
			p->has_fp = false; /* answered */
			waiting--;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_assign(rk, NULL);
	if (waiting)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "reading the last applied messages of '%s' timed out", topic);
out:
	rd_kafka_topic_partition_list_destroy(list);
	return rc;
}

/* ---- the verdict ---------------------------------------------------------------- */

/* Why the stored offsets belong to an older incarnation, or "" when they do
 * not (perhaps with some partitions BEYOND their end). */
static void incarnation_reason(const char *stored_cluster, const char *cluster, int count,
                               const struct stored_part *parts, size_t n, char *why,
                               size_t why_size)
{
	size_t same = 0, beyond = 0;

	why[0] = '\0';
	if (stored_cluster && cluster && strcmp(stored_cluster, cluster) != 0) {
		snprintf(why, why_size, "the Kafka cluster id changed from '%s' to '%s'",
		         stored_cluster, cluster);
		return;
	}
	if (count == 0) {
		snprintf(why, why_size, "the topic does not exist");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (parts[i].verdict == P_OTHER) {
			if (parts[i].partition >= count)
				snprintf(why, why_size, "partition %" PRId32 " is gone",
				         parts[i].partition);
			else
				snprintf(why, why_size,
				         "partition %" PRId32
				         " holds another message at offset %" PRId64
				         " than the one applied",
				         parts[i].partition, parts[i].next - 1);
			return;
		}
		same += parts[i].verdict == P_SAME || parts[i].verdict == P_UNCHECKED;
		beyond += parts[i].verdict == P_BEYOND;
	}
	/* nothing vouches for the old topic, and it is shorter everywhere */
	if (beyond && !same)
		snprintf(why, why_size, "every partition ends before its stored offset");
}

static int verify_once(struct cps_ingest_topic *t, char *errstr, size_t errstr_size)
{
	const char *topic = t->conf.topic;
	struct stored_part *parts = NULL;
	char *stored_cluster = NULL, *cluster = NULL, why[REASON_SIZE];
	rd_kafka_t *rk = NULL;
	PGconn *c;
	size_t n = 0;
	int count = 0, rc;

	if (t->conf.create_topics && !t->topics_ready) {
		rc = cps_kafka_topics_ensure(t->conf.create_topics, t->conf.bootstrap, &t->props,
		                             errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		t->topics_ready = true;
	}
	c = PQconnectdb(t->conf.conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		rc = pq_fail(c, NULL, "connecting", errstr, errstr_size);
		goto out;
	}
	rc = load_stored(c, topic, &stored_cluster, &parts, &n, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	rk = consumer_new(t, errstr, errstr_size);
	if (!rk) {
		rc = CPS_ERR_FATAL;
		goto out;
	}
	cluster = rd_kafka_clusterid(rk, TIMEOUT_MS);
	if (!cluster) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "the Kafka cluster did not tell its id");
		goto out;
	}
	rc = partition_count(rk, topic, &count, errstr, errstr_size);
	if (rc == CPS_OK && n && count > 0 &&
	    !(stored_cluster && strcmp(stored_cluster, cluster) != 0))
		rc = check_partitions(rk, topic, count, parts, n, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	incarnation_reason(stored_cluster, cluster, count, parts, n, why, sizeof(why));
	if (!n)
		why[0] = '\0'; /* nothing stored: nothing to doubt */
	rc = store_verdict(c, topic, cluster, why[0] != '\0', parts, n, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	if (why[0]) {
		cps_log_warn(
		    FAC,
		    "ingest topic '%s' is a new one (%s): the stored offsets of %zu partition(s) belonged to the old one; reading every partition from its beginning",
		    topic, why, n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char msg[REASON_SIZE + 64];

		if (parts[i].verdict != P_BEYOND)
			continue;
		snprintf(
		    msg, sizeof(msg),
		    "ingest topic '%s' partition %" PRId32 " ends at offset %" PRId64
		    ", before the stored offset %" PRId64
		    ": the broker lost messages cpsync had applied; reading it again from offset %" PRId64
		    ", nothing skipped",
		    topic, parts[i].partition, parts[i].high, parts[i].next, parts[i].low);
		cps_log_error(FAC, "%s", msg);
		if (t->conf.status && t->conf.link)
			cps_link_set_error(t->conf.status, t->conf.link, msg);
		if (!t->lost)
			t->lost = calloc(n, sizeof(*t->lost));
		if (t->lost)
			t->lost[t->n_lost++] = (struct lost){parts[i].partition, parts[i].high};
	}
	cps_log_info(
	    FAC, "ingest topic '%s': stored offsets of %zu partition(s) verified on cluster '%s'",
	    topic, n, cluster);
out:
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	if (cluster)
		rd_kafka_mem_free(NULL, cluster);
	free(stored_cluster);
	free(parts);
	PQfinish(c);
	return rc;
}

/* ---- the thread ------------------------------------------------------------------ */

static void nap(struct cps_ingest_topic *t, int ms)
{
	for (int waited = 0; waited < ms && !atomic_load(&t->stop); waited += 50)
		usleep(50 * 1000);
}

/* Whether the store's next offset of every lost partition has come back to
 * where the partition ended when the loss was found. */
static bool reread_done(struct cps_ingest_topic *t)
{
	char part[16];
	const char *params[2] = {t->conf.topic, part};
	PGconn *c = PQconnectdb(t->conf.conninfo);
	bool done = PQstatus(c) == CONNECTION_OK;

	for (size_t i = 0; done && i < t->n_lost; i++) {
		PGresult *res;

		snprintf(part, sizeof(part), "%" PRId32, t->lost[i].partition);
		res = PQexecParams(c,
		                   "SELECT next_offset FROM cpsync.ingest_offsets "
		                   "WHERE topic = $1 AND partition = $2",
		                   2, NULL, params, NULL, NULL, 0);
		done = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		       atoll(PQgetvalue(res, 0, 0)) >= t->lost[i].until;
		PQclear(res);
	}
	PQfinish(c);
	return done;
}

/* /readyz is 503 while partitions that lost messages are read again. */
static void watch_reread(struct cps_ingest_topic *t)
{
	char reason[160];

	if (!t->n_lost || !t->conf.status)
		return;
	snprintf(reason, sizeof(reason),
	         "ingest topic '%.64s': %zu partition(s) read again after the broker lost messages",
	         t->conf.topic, t->n_lost);
	cps_status_set_unready(t->conf.status, reason);
	while (!atomic_load(&t->stop) && !reread_done(t))
		nap(t, RETRY_MS);
	cps_status_set_unready(t->conf.status, NULL);
	if (!atomic_load(&t->stop))
		cps_log_info(FAC,
		             "ingest topic '%s': the partitions that lost messages are read again",
		             t->conf.topic);
}

static void *check_main(void *arg)
{
	struct cps_ingest_topic *t = arg;
	char err[CPS_ERRSTR_SIZE], last[CPS_ERRSTR_SIZE] = "";

	while (!atomic_load(&t->stop)) {
		if (verify_once(t, err, sizeof(err)) == CPS_OK) {
			atomic_store(&t->verified, true);
			watch_reread(t);
			return NULL;
		}
		if (strcmp(err, last) != 0) /* a lasting outage is said once */
			cps_log_warn(FAC, "cannot verify the ingest topic '%s' yet: %s",
			             t->conf.topic, err);
		snprintf(last, sizeof(last), "%s", err);
		if (t->conf.status && t->conf.link)
			cps_link_set_error(t->conf.status, t->conf.link, err);
		nap(t, RETRY_MS);
	}
	return NULL;
}

static void topic_free(struct cps_ingest_topic *t)
{
	free((char *)t->conf.bootstrap);
	free((char *)t->conf.topic);
	free((char *)t->conf.conninfo);
	cps_settings_release(&t->props);
	free(t->lost);
	free(t);
}

int cps_ingest_topic_start(const struct cps_ingest_topic_conf *conf, struct cps_ingest_topic **out,
                           char *errstr, size_t errstr_size)
{
	struct cps_ingest_topic *t;

	*out = NULL;
	if (!conf->bootstrap || !conf->topic || !conf->conninfo)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "the ingest topic check needs brokers, a topic and a store");
	t = calloc(1, sizeof(*t));
	if (!t)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	t->conf = *conf;
	cps_settings_init(&t->props);
	t->conf.bootstrap = strdup(conf->bootstrap);
	t->conf.topic = strdup(conf->topic);
	t->conf.conninfo = strdup(conf->conninfo);
	t->conf.kafka_props = NULL;
	if (!t->conf.bootstrap || !t->conf.topic || !t->conf.conninfo ||
	    (conf->kafka_props && cps_settings_copy(&t->props, conf->kafka_props))) {
		topic_free(t);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (pthread_create(&t->thread, NULL, check_main, t) != 0) {
		topic_free(t);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "cannot start the ingest topic check");
	}
	t->started = true;
	*out = t;
	return CPS_OK;
}

bool cps_ingest_topic_verified(struct cps_ingest_topic *t)
{
	return !t || atomic_load(&t->verified);
}

void cps_ingest_topic_stop(struct cps_ingest_topic *t)
{
	if (!t)
		return;
	atomic_store(&t->stop, true);
	if (t->started)
		pthread_join(t->thread, NULL);
	topic_free(t);
}
