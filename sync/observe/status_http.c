/*
 * GET /status and the /readyz check. /status is the link registry's document
 * (status.c) plus the store's figures, read with a connection of the HTTP
 * side's own (short statement timeout, reopened after a failure). /readyz:
 * the store answers, Kafka answers a metadata request within 1 s, every link
 * is RUNNING (or STANDBY: a single-reader source another instance holds).
 * Neither document ever holds personal data. The conflicts
 * part breaks the open conflicts down by entity and field (names from the
 * schemas, never values) and counts the closed ones by how they closed.
 */
#include "observe/status_http.h"

#include "kafka/client.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/log.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_PROBE_TIMEOUT_MS 1000

struct cps_status_http {
	struct cps_status *status;
	char *conninfo; /* with the statement timeout added */
	char *bootstrap;
	bool embedded;
	struct cps_settings kafka_props;

	pthread_mutex_t store_lock; /* one HTTP thread at a time on the connection */
	struct cps_store *store;
	PGconn *pq; /* the conflict breakdown's queries, not in the store's API */

	pthread_mutex_t kafka_lock;
	rd_kafka_t *probe; /* a producer used only for metadata requests */

	/* The store's figures of the last document, kept for a while: their
	 * counts scan tables, and /status is polled (dashboards, probes). */
	pthread_mutex_t figures_lock;
	json_t *figures_store, *figures_conflicts;
	int64_t figures_until_ms; /* monotonic */
};

/* The conninfo with a statement timeout ("options=-c statement_timeout=N")
 * and a 2 s connect timeout added, in keyword/value or URI form. Settings
 * the conninfo already has are kept as they are. */
static char *conninfo_with_timeout(const char *conninfo, int timeout_ms)
{
	int uri = !strncmp(conninfo, "postgres://", 11) || !strncmp(conninfo, "postgresql://", 13);
	char sep = uri ? (strchr(conninfo, '?') ? '&' : '?') : ' ';
	struct cps_buf b;
	char *out;

	cps_buf_init(&b, 0);
	if (cps_buf_printf(&b, "%s", conninfo) < 0)
		goto out_fail;
	if (!strstr(conninfo, "options")) {
		if (uri ? cps_buf_printf(&b, "%coptions=-c%%20statement_timeout%%3D%d", sep,
		                         timeout_ms) < 0
		        : cps_buf_printf(&b, " options='-c statement_timeout=%d'", timeout_ms) < 0)
			goto out_fail;
		sep = uri ? '&' : ' ';
	}
	if (!strstr(conninfo, "connect_timeout") &&
	    cps_buf_printf(&b, "%cconnect_timeout=2", sep) < 0)
		goto out_fail;
	out = strdup(b.data ? (const char *)b.data : "");
	cps_buf_release(&b);
	return out;

out_fail:
	cps_buf_release(&b);
	return NULL;
}

int cps_status_http_new(const struct cps_status_http_conf *conf, struct cps_status_http **out,
                        char *errstr, size_t errstr_size)
{
	struct cps_status_http *sh = calloc(1, sizeof(*sh));

	*out = NULL;
	if (!sh)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	sh->status = conf->status;
	sh->embedded = conf->kafka_embedded;
	cps_settings_init(&sh->kafka_props);
	pthread_mutex_init(&sh->store_lock, NULL);
	pthread_mutex_init(&sh->kafka_lock, NULL);
	pthread_mutex_init(&sh->figures_lock, NULL);
	sh->conninfo =
	    conninfo_with_timeout(conf->store_conninfo ? conf->store_conninfo : "",
	                          conf->store_timeout_ms > 0 ? conf->store_timeout_ms : 2000);
	if (!sh->conninfo)
		goto out_oom;
	if (conf->kafka_bootstrap && !(sh->bootstrap = strdup(conf->kafka_bootstrap)))
		goto out_oom;
	if (conf->kafka_properties &&
	    cps_settings_copy(&sh->kafka_props, conf->kafka_properties) != 0)
		goto out_oom;
	*out = sh;
	return CPS_OK;

out_oom:
	cps_status_http_free(sh);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

void cps_status_http_free(struct cps_status_http *sh)
{
	if (!sh)
		return;
	cps_store_close(sh->store);
	if (sh->pq)
		PQfinish(sh->pq);
	if (sh->probe)
		rd_kafka_destroy(sh->probe);
	cps_settings_release(&sh->kafka_props);
	free(sh->conninfo);
	free(sh->bootstrap);
	pthread_mutex_destroy(&sh->store_lock);
	pthread_mutex_destroy(&sh->kafka_lock);
	pthread_mutex_destroy(&sh->figures_lock);
	json_decref(sh->figures_store);
	json_decref(sh->figures_conflicts);
	free(sh);
}

/* The connection, opened on first use and after a failure.
 * @locks sh->store_lock MUST be held */
static struct cps_store *store_conn(struct cps_status_http *sh, char *errstr, size_t errstr_size)
{
	if (!sh->store && cps_store_open(sh->conninfo, &sh->store, errstr, errstr_size) != CPS_OK)
		sh->store = NULL;
	return sh->store;
}

/* A failed statement may have left the connection unusable: drop it.
 * @locks sh->store_lock MUST be held */
static void store_drop(struct cps_status_http *sh)
{
	cps_store_close(sh->store);
	sh->store = NULL;
}

/* Open conflicts by entity and field, and all conflicts by status, from
 * the HTTP side's own libpq connection (reopened after a failure).
 * @locks sh->store_lock MUST be held */
#define CONFLICTS_BY_FIELD_SQL                                                                     \
	"SELECT entity, field, count(*) FROM cpsync.conflicts "                                    \
	"WHERE status IN ('open', 'claimed') GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1000"
#define CONFLICTS_BY_STATUS_SQL "SELECT status, count(*) FROM cpsync.conflicts GROUP BY 1"

static PGresult *pq_query(struct cps_status_http *sh, const char *sql)
{
	PGresult *res;

	if (sh->pq && PQstatus(sh->pq) != CONNECTION_OK) {
		PQfinish(sh->pq);
		sh->pq = NULL;
	}
	if (!sh->pq) {
		sh->pq = PQconnectdb(sh->conninfo);
		if (PQstatus(sh->pq) != CONNECTION_OK) {
			cps_log_debug(CPS_DBG_HTTP, "HTTP", "status: conflict figures unavailable");
			PQfinish(sh->pq);
			sh->pq = NULL;
			return NULL;
		}
	}
	res = PQexec(sh->pq, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		PQfinish(sh->pq);
		sh->pq = NULL;
		return NULL;
	}
	return res;
}

/* Adds by_entity, by_field, opened_total and closed {how: n} to `conflicts`.
 * The closed statuses are named as the store's close kinds: "auto",
 * "resolved", "dismissed". Leaves `conflicts` as it was on failure. */
static void conflict_breakdown(struct cps_status_http *sh, json_t *conflicts)
{
	json_t *by_entity = json_object(), *by_field = json_array(), *closed = json_object();
	PGresult *fields = NULL, *statuses = NULL;
	json_int_t opened = 0;

	pthread_mutex_lock(&sh->store_lock);
	fields = pq_query(sh, CONFLICTS_BY_FIELD_SQL);
	if (fields)
		statuses = pq_query(sh, CONFLICTS_BY_STATUS_SQL);
	pthread_mutex_unlock(&sh->store_lock);
	if (!fields || !statuses || !by_entity || !by_field || !closed)
		goto out;
	for (int i = 0; i < PQntuples(fields); i++) {
		const char *entity = PQgetvalue(fields, i, 0);
		json_int_t n = atoll(PQgetvalue(fields, i, 2));
		json_t *sofar = json_object_get(by_entity, entity);

		json_object_set_new(by_entity, entity,
		                    json_integer(n + (sofar ? json_integer_value(sofar) : 0)));
		json_array_append_new(by_field,
		                      json_pack("{s:s,s:s,s:I}", "entity", entity, "field",
		                                PQgetvalue(fields, i, 1), "open", n));
	}
	json_object_set_new(closed, "auto", json_integer(0));
	json_object_set_new(closed, "resolved", json_integer(0));
	json_object_set_new(closed, "dismissed", json_integer(0));
	for (int i = 0; i < PQntuples(statuses); i++) {
		const char *status = PQgetvalue(statuses, i, 0);
		json_int_t n = atoll(PQgetvalue(statuses, i, 1));

		opened += n;
		if (!strcmp(status, "auto_closed"))
			status = "auto";
		else if (strcmp(status, "resolved") != 0 && strcmp(status, "dismissed") != 0)
			continue; /* open or claimed */
		json_object_set_new(closed, status, json_integer(n));
	}
	json_object_set(conflicts, "by_entity", by_entity);
	json_object_set(conflicts, "by_field", by_field);
	json_object_set_new(conflicts, "opened_total", json_integer(opened));
	json_object_set(conflicts, "closed", closed);
out:
	PQclear(fields);
	PQclear(statuses);
	json_decref(by_entity);
	json_decref(by_field);
	json_decref(closed);
}

static json_t *store_json(struct cps_status_http *sh, json_t **conflicts)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store_stats stats;
	struct cps_store *s;
	int applied = 0, latest = 0, rc = CPS_ERR_RETRIABLE;
	json_t *doc, *policy_open = NULL;

	pthread_mutex_lock(&sh->store_lock);
	s = store_conn(sh, err, sizeof(err));
	if (s) {
		rc = cps_store_schema_version(s, &applied, &latest, err, sizeof(err));
		if (rc == CPS_OK)
			rc = cps_store_stats(s, &stats, err, sizeof(err));
		if (rc == CPS_OK)
			rc = cps_store_policy_open_counts(s, &policy_open, err, sizeof(err));
		if (rc != CPS_OK)
			store_drop(sh);
	}
	pthread_mutex_unlock(&sh->store_lock);
	if (rc != CPS_OK) {
		cps_log_debug(CPS_DBG_HTTP, "HTTP", "status: store figures unavailable: %s", err);
		*conflicts = json_pack("{s:n,s:n}", "open", "oldest_age_s");
		return json_pack("{s:b,s:s}", "ok", 0, "error", err);
	}
	doc = json_pack("{s:b,s:i,s:I,s:I,s:o,s:I,s:I,s:o}", "ok", 1, "schema_version", applied,
	                "records", (json_int_t)stats.records, "open_conflicts",
	                (json_int_t)stats.open_conflicts, "oldest_conflict_age_s",
	                stats.oldest_conflict_age_s < 0 ? json_null()
	                                                : json_integer(stats.oldest_conflict_age_s),
	                "dead_letters", (json_int_t)stats.dead_letters, "outbox_pending",
	                (json_int_t)stats.outbox_pending, "policy_findings_open", policy_open);
	*conflicts =
	    json_pack("{s:I,s:o}", "open", (json_int_t)stats.open_conflicts, "oldest_age_s",
	              stats.oldest_conflict_age_s < 0 ? json_null()
	                                              : json_integer(stats.oldest_conflict_age_s));
	return doc;
}

/* The store and conflicts parts, read again once the last reading is older
 * than STORE_FIGURES_MIN_MS or FIGURES_COST_FACTOR times what it took (at
 * most STORE_FIGURES_MAX_MS), so that polling /status costs the store at most
 * ~5% of one backend: the counts scan tables that grow with the data. A
 * failed reading is not kept. New references in *store and *conflicts. */
#define STORE_FIGURES_MIN_MS 1000
#define STORE_FIGURES_MAX_MS 30000
#define FIGURES_COST_FACTOR  20

static void store_figures(struct cps_status_http *sh, json_t **store, json_t **conflicts)
{
	int64_t start = cps_mono_ms(), hold;

	pthread_mutex_lock(&sh->figures_lock);
	if (sh->figures_store && start < sh->figures_until_ms) {
		*store = json_deep_copy(sh->figures_store);
		*conflicts = json_deep_copy(sh->figures_conflicts);
		pthread_mutex_unlock(&sh->figures_lock);
		return;
	}
	*conflicts = NULL;
	*store = store_json(sh, conflicts);
	if (*conflicts && json_is_true(json_object_get(*store, "ok"))) {
		conflict_breakdown(sh, *conflicts);
		hold = FIGURES_COST_FACTOR * (cps_mono_ms() - start);
		hold = hold < STORE_FIGURES_MIN_MS   ? STORE_FIGURES_MIN_MS
		       : hold > STORE_FIGURES_MAX_MS ? STORE_FIGURES_MAX_MS
		                                     : hold;
		json_decref(sh->figures_store);
		json_decref(sh->figures_conflicts);
		sh->figures_store = json_deep_copy(*store);
		sh->figures_conflicts = json_deep_copy(*conflicts);
		sh->figures_until_ms = cps_mono_ms() + hold;
	}
	pthread_mutex_unlock(&sh->figures_lock);
}

json_t *cps_status_http_document(struct cps_status_http *sh)
{
	json_t *doc = cps_status_to_json(sh->status), *kafka, *store, *conflicts;

	if (!doc)
		return NULL;
	kafka = json_object_get(doc, "kafka");
	if (kafka)
		json_object_set_new(kafka, "embedded", json_boolean(sh->embedded));
	/* the level now: PUT /api/v1/log and SIGHUP change it at run time */
	json_object_set_new(doc, "log",
	                    json_pack("{s:s}", "level", cps_log_level_name(cps_log_get_level())));
	store_figures(sh, &store, &conflicts);
	if (!store || !conflicts) {
		json_decref(store);
		json_decref(conflicts);
		json_decref(doc);
		return NULL;
	}
	if (json_object_set_new(doc, "store", store) != 0 ||
	    json_object_set_new(doc, "conflicts", conflicts) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static void status_handler(void *ctx, const struct cps_http_request *req,
                           struct cps_http_response *resp)
{
	json_t *doc = cps_status_http_document(ctx);

	if (!doc) {
		cps_http_reply_error(resp, 500, "status document unavailable");
		return;
	}
	cps_http_reply_json(resp, 200, doc);
}

int cps_status_http_register(struct cps_status_http *sh, struct cps_http_server *srv, char *errstr,
                             size_t errstr_size)
{
	return cps_http_route(srv, "GET", "/status", status_handler, sh, CPS_ROLE_ANY, errstr,
	                      errstr_size);
}

/* Whether a broker answers a metadata request within a second. */
static int kafka_reachable(struct cps_status_http *sh, char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int rc = CPS_OK;

	pthread_mutex_lock(&sh->kafka_lock);
	if (!sh->probe) {
		/* failures are this probe's answer, not news for the log */
		static const char *const quiet[][2] = {{"log_level", "0"}};
		rd_kafka_conf_t *conf = cps_kafka_conf_new_with(
		    CPS_KAFKA_ANY, sh->bootstrap, &sh->kafka_props, quiet, 1, errstr, errstr_size);

		if (conf)
			sh->probe =
			    cps_kafka_client_new(RD_KAFKA_PRODUCER, conf,
			                         "kafka client for readiness", errstr, errstr_size);
		if (!sh->probe) {
			rc = CPS_ERR_FATAL;
			goto out_unlock;
		}
	}
	err = rd_kafka_metadata(sh->probe, 0, NULL, &md, KAFKA_PROBE_TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		rc =
		    cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "%s", rd_kafka_err2str(err));
	else
		rd_kafka_metadata_destroy(md);
out_unlock:
	pthread_mutex_unlock(&sh->kafka_lock);
	return rc;
}

int cps_status_http_ready(void *ctx, json_t *reasons)
{
	struct cps_status_http *sh = ctx;
	char err[CPS_ERRSTR_SIZE], reason[256];
	struct cps_store *s;
	int ready = 1, rc = CPS_ERR_RETRIABLE;
	size_t n;

	pthread_mutex_lock(&sh->store_lock);
	s = store_conn(sh, err, sizeof(err));
	if (s) {
		rc = cps_store_ping(s, err, sizeof(err));
		if (rc != CPS_OK)
			store_drop(sh);
	}
	pthread_mutex_unlock(&sh->store_lock);
	if (rc != CPS_OK) {
		cps_log_debug(CPS_DBG_HTTP, "HTTP", "readyz: store unreachable: %s", err);
		json_array_append_new(reasons, json_string("store unreachable"));
		ready = 0;
	}
	if (sh->bootstrap && kafka_reachable(sh, err, sizeof(err)) != CPS_OK) {
		cps_log_debug(CPS_DBG_HTTP, "HTTP", "readyz: kafka unreachable: %s", err);
		json_array_append_new(reasons, json_string("kafka unreachable"));
		ready = 0;
	}
	if (cps_status_unready(sh->status, reason, sizeof(reason))) {
		json_array_append_new(reasons, json_string(reason));
		ready = 0;
	}
	n = cps_status_link_count(sh->status);
	for (size_t i = 0; i < n; i++) {
		struct cps_link *l = cps_status_link_at(sh->status, i);
		int state = atomic_load(&l->state);

		if (state == CPS_LINK_RUNNING || state == CPS_LINK_STANDBY)
			continue; /* a standby single reader is healthy */
		snprintf(reason, sizeof(reason), "link '%s' is %s", l->name,
		         cps_link_state_name((enum cps_link_state)state));
		json_array_append_new(reasons, json_string(reason));
		ready = 0;
	}
	return ready;
}
