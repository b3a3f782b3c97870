/*
 * The engine: starts cpsync's parts in dependency order — logging, schema
 * catalog and registry, rules, store migrations, Kafka (the embedded broker
 * and its topics, or external brokers), the HTTP server with /healthz,
 * /readyz and /status, the publisher, the reconcile workers, one ingest
 * runner per enabled platform source — and stops them in reverse order.
 */
#include "engine.h"

#include "api/api.h"
#include "api/api_ops.h"
#include "kafka/broker.h"
#include "base/common.h"
#include "connectors/connector.h"
#include "http/dashboard.h"
#include "model/event.h"
#include "codec/framing.h"
#include "codec/guard.h"
#include "ingest/ingest.h"
#include "base/log.h"
#include "config/log_config.h"
#include "observe/metrics.h"
#include "observe/status_http.h"
#include "base/pii.h"
#include "publish/publish.h"
#include "codec/registry.h"
#include "reconcile/rules.h"
#include "codec/schema.h"
#include "sink/sink_runner.h"
#include "store/store.h"
#include "worker/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SOURCE_FRAMING "single-object"

/* One platform source: what it takes to (re)open its connector. */
struct engine_source {
	struct cps_engine *engine;
	char platform[CPS_PLATFORM_MAX];
	const struct cps_connector_ops *ops;
	struct cps_settings settings; /* flattened, framing removed, defaults added */
	struct cps_link *link;
	struct cps_ingest *runner;
};

struct cps_engine {
	struct cps_config *cfg;
	bool signals_blocked;
	sigset_t old_mask;
	atomic_bool stop_requested;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;

	struct cps_status *status;
	struct cps_catalog *catalog;
	struct cps_registry *registry;
	struct cps_rules *rules;
	struct cps_guard_limits limits;
	char *conninfo;
	struct cps_settings kafka_props;

	struct cps_broker *broker; /* embedded only */
	char *bootstrap;

	struct cps_status_http *status_http;
	struct cps_http_server *http;
	struct cps_metrics *metrics;

	struct cps_publisher *publisher;
	struct cps_ingest_topic *identity; /* verifies the stored ingest offsets */
	struct cps_workers *workers;

	struct engine_source *sources;
	size_t n_sources;

	struct cps_sink_runner **sinks; /* one per platform with a `sink` section */
	size_t n_sinks;

	struct cps_ops_api *ops_api; /* dead letters and connector controls */
	struct cps_api *api;         /* steward API: conflicts, records, audit */
};

/* ---- settings ------------------------------------------------------------ */

static int flatten_node(const struct cps_config_node *n, struct cps_buf *key,
                        struct cps_settings *out)
{
	size_t mark = key->len;
	int rc = 0;

	switch (n->kind) {
	case CPS_NODE_NULL:
		return cps_settings_set(out, (const char *)key->data, "");
	case CPS_NODE_SCALAR:
		return cps_settings_set(out, (const char *)key->data, n->value ? n->value : "");
	case CPS_NODE_SEQ: {
		struct cps_buf list;

		cps_buf_init(&list, 0);
		for (size_t i = 0; i < n->count && rc == 0; i++) {
			const struct cps_config_node *item = n->children[i];

			if (item->kind != CPS_NODE_SCALAR)
				continue;
			rc = cps_buf_printf(&list, "%s%s", i ? "," : "", item->value);
		}
		if (rc == 0)
			rc = cps_settings_set(out, (const char *)key->data,
			                      list.data ? (const char *)list.data : "");
		cps_buf_release(&list);
		return rc;
	}
	case CPS_NODE_MAP:
		for (size_t i = 0; i < n->count && rc == 0; i++) {
			key->len = mark;
			key->data[mark] = '\0';
			rc = cps_buf_printf(key, "%s%s", mark ? "." : "", n->children[i]->key);
			if (rc == 0)
				rc = flatten_node(n->children[i], key, out);
		}
		key->len = mark;
		key->data[mark] = '\0';
		return rc;
	}
	return 0;
}

int cps_engine_flatten_settings(const struct cps_config_node *map, const char *prefix,
                                struct cps_settings *out)
{
	struct cps_buf key;
	int rc;

	if (!map)
		return 0;
	cps_buf_init(&key, 0);
	if (cps_buf_reserve(&key, 64) < 0)
		return -1;
	key.data[0] = '\0';
	if (prefix && cps_buf_printf(&key, "%s", prefix) < 0) {
		cps_buf_release(&key);
		return -1;
	}
	rc = flatten_node(map, &key, out);
	cps_buf_release(&key);
	return rc;
}

/* Removes `key` from `s` (settings have no delete of their own). */
static void settings_remove(struct cps_settings *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->items[i].key, key)) {
			free(s->items[i].key);
			free(s->items[i].value);
			memmove(&s->items[i], &s->items[i + 1],
			        (s->n - i - 1) * sizeof(s->items[0]));
			s->n--;
			return;
		}
}

/* ---- Kafka --------------------------------------------------------------- */

struct topic_list {
	char **names;
	size_t n, cap;
};

static int topic_add(struct topic_list *t, const char *name, size_t len)
{
	char *copy;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->names[i]) == len && !strncmp(t->names[i], name, len))
			return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **names = realloc(t->names, cap * sizeof(*names));

		if (!names)
			return -1;
		t->names = names;
		t->cap = cap;
	}
	copy = strndup(name, len);
	if (!copy)
		return -1;
	t->names[t->n++] = copy;
	return 0;
}

/* Adds each element of a comma-separated list. */
static int topic_add_list(struct topic_list *t, const char *list)
{
	while (list && *list) {
		const char *comma = strchr(list, ',');
		size_t len = comma ? (size_t)(comma - list) : strlen(list);

		while (len && *list == ' ')
			list++, len--;
		while (len && list[len - 1] == ' ')
			len--;
		if (topic_add(t, list, len) < 0)
			return -1;
		list = comma ? comma + 1 : NULL;
	}
	return 0;
}

static void topic_list_release(struct topic_list *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->names[i]);
	free(t->names);
}

/* Every topic the engine and the platforms use: ingest, dead-letter, one
 * unified topic per entity, the sources' topics and the sinks' topics. */
static int collect_topics(const struct cps_config *cfg, struct topic_list *t)
{
	const char *prefix = cps_config_get_string(cfg, "kafka.unified_topic_prefix");
	size_t np = cps_config_platform_count(cfg);
	char name[CPS_STREAM_MAX];

	if (topic_add_list(t, cps_config_get_string(cfg, "kafka.ingest_topic")) < 0 ||
	    topic_add_list(t, cps_config_get_string(cfg, "kafka.dead_letter_topic")) < 0)
		return -1;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(cps_entities); i++) {
		snprintf(name, sizeof(name), "%s%s", prefix, cps_entities[i]);
		if (topic_add_list(t, name) < 0)
			return -1;
	}
	for (size_t i = 0; i < np; i++) {
		struct cps_config_platform p;
		struct cps_settings s;
		const struct cps_setting *kv;
		size_t it = 0;
		int rc = 0;

		if (cps_config_platform_at(cfg, i, &p) != CPS_OK || !p.enabled ||
		    strcmp(p.connector, "kafka") != 0)
			continue;
		cps_settings_init(&s);
		if (cps_engine_flatten_settings(p.source, "source", &s) < 0 ||
		    cps_engine_flatten_settings(p.sink, "sink", &s) < 0)
			rc = -1;
		if (rc == 0)
			rc = topic_add_list(t, cps_settings_get(&s, "source.topics"));
		while (rc == 0 && (kv = cps_settings_next(&s, "sink.entity.", &it)))
			if (strlen(kv->key) > 6 && !strcmp(kv->key + strlen(kv->key) - 6, ".topic"))
				rc = topic_add_list(t, kv->value);
		cps_settings_release(&s);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int start_kafka(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	const char *brokers = cps_config_get_string(e->cfg, "kafka.brokers");
	struct topic_list topics = {0};
	int rc;

	if (cps_kafka_properties_from_config(e->cfg, &e->kafka_props) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (strcmp(brokers, "embedded") != 0) {
		e->bootstrap = strdup(brokers);
		if (!e->bootstrap)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		cps_status_set_bootstrap(e->status, e->bootstrap);
		cps_log_info("KAFKA", "kafka bootstrap %s", e->bootstrap);
		return CPS_OK;
	}
	if (collect_topics(e->cfg, &topics) < 0) {
		topic_list_release(&topics);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	rc = cps_broker_start((int)cps_config_get_int(e->cfg, "kafka.embedded.partitions"),
	                      (const char **)topics.names, topics.n, &e->broker, errstr,
	                      errstr_size);
	topic_list_release(&topics);
	if (rc != CPS_OK)
		return rc;
	e->bootstrap = strdup(cps_broker_bootstrap(e->broker));
	if (!e->bootstrap)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_status_set_bootstrap(e->status, e->bootstrap);
	cps_log_info("KAFKA", "embedded kafka broker at %s (kcat -L -b %s)", e->bootstrap,
	             e->bootstrap);
	return CPS_OK;
}

/* ---- start-up stages ----------------------------------------------------- */

static int load_schemas(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                        size_t errstr_size)
{
	const char *dir = opts && opts->schema_dir ? opts->schema_dir
	                                           : cps_config_get_string(e->cfg, "schemas.dir");
	struct cps_registry_conf rc = {
	    .url = cps_config_get_string(e->cfg, "schemas.registry.url"),
	    .timeout_ms = (long)cps_config_get_int(e->cfg, "schemas.registry.timeout_ms"),
	    .username = cps_config_get_string(e->cfg, "schemas.registry.username"),
	    .password = cps_config_get_string(e->cfg, "schemas.registry.password"),
	    .ca_file = cps_config_get_string(e->cfg, "schemas.registry.ca_file"),
	};
	char err[CPS_ERRSTR_SIZE];
	int r;

	if (rc.username && !rc.username[0])
		rc.username = NULL;
	if (rc.password && !rc.password[0])
		rc.password = NULL;
	if (rc.ca_file && !rc.ca_file[0])
		rc.ca_file = NULL;
	r = cps_catalog_load_dir(dir, &e->catalog, err, sizeof(err));
	if (r != CPS_OK)
		return cps_seterr(r, errstr, errstr_size, "schemas '%s': %s", dir, err);
	cps_log_info("SCHEMA", "loaded %zu schemas from '%s'", cps_catalog_count(e->catalog), dir);
	r = cps_registry_new(&rc, e->catalog, &e->registry, err, sizeof(err));
	if (r != CPS_OK)
		return cps_seterr(r, errstr, errstr_size, "schema registry: %s", err);
	return CPS_OK;
}

static int migrate_store(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	struct cps_store *s = NULL;
	char masked[512], err[CPS_ERRSTR_SIZE];
	int applied = 0, latest = 0, rc;

	cps_mask_conninfo(e->conninfo, masked, sizeof(masked));
	rc = cps_store_open(e->conninfo, &s, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_store_migrate(s, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_store_schema_version(s, &applied, &latest, err, sizeof(err));
	cps_store_close(s);
	if (rc != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "store '%s': %s", masked, err);
	cps_log_info("STORE", "store '%s' at schema version %d", masked, applied);
	return CPS_OK;
}

static int start_http(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                      size_t errstr_size)
{
	struct cps_status_http_conf sc = {
	    .status = e->status,
	    .store_conninfo = e->conninfo,
	    .kafka_bootstrap = e->bootstrap,
	    .kafka_embedded = e->broker != NULL,
	    .kafka_properties = &e->kafka_props,
	};
	struct cps_http_conf hc = {0};
	struct cps_metrics_conf mc = {0};
	struct cps_api_auth auth;
	int rc;

	rc = cps_status_http_new(&sc, &e->status_http, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rc = cps_api_auth_from_config(e->cfg, &auth, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	hc.open_routes = auth.open_routes;
	hc.tls_cert_file = auth.tls_cert_file;
	hc.tls_key_file = auth.tls_key_file;
	hc.listen = opts && opts->http_listen ? opts->http_listen
	                                      : cps_config_get_string(e->cfg, "http.listen");
	hc.max_body_bytes = (size_t)cps_config_get_int(e->cfg, "http.max_body_bytes");
	hc.timeout_s = (unsigned)cps_config_get_int(e->cfg, "http.timeout_s");
	hc.max_connections = (unsigned)cps_config_get_int(e->cfg, "http.max_connections");
	hc.threads = 2;
	hc.ready = cps_status_http_ready;
	hc.ready_ctx = e->status_http;
	rc = cps_http_start(&hc, &e->http, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_set_tokens(e->http, auth.tokens, auth.n_tokens, errstr, errstr_size);
	cps_api_auth_release(&auth);
	if (rc != CPS_OK)
		return rc;
	rc = cps_status_http_register(e->status_http, e->http, errstr, errstr_size);
	if (rc == CPS_OK) /* open: the page holds no data, the API needs the token */
		rc = cps_dashboard_register(e->http, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	/* open or not as http.open_routes says */
	mc.status = e->status;
	mc.status_http = e->status_http;
	mc.http = e->http;
	mc.cfg = e->cfg;
	mc.required_roles = CPS_ROLE_ANY;
	rc = cps_metrics_start(&mc, &e->metrics, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	cps_log_info("HTTP", "listening on %s, port %u: /healthz /readyz /status /metrics",
	             hc.listen, cps_http_port(e->http));
	return CPS_OK;
}

static int start_reconcile(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	struct cps_publisher_conf pc = {
	    .bootstrap = e->bootstrap,
	    .kafka_properties = &e->kafka_props,
	    .conninfo = e->conninfo,
	    .status = e->status,
	};
	struct cps_worker_conf wc = {0};
	struct cps_ingest_topic_conf tc = {0};
	int rc;

	pc.leader_retry_ms = (int)cps_config_get_int(e->cfg, "store.leader_retry_ms");
	pc.link = cps_status_add_link(e->status, "publisher", "cpsync", "kafka", CPS_LINK_SINK);
	if (!pc.link)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = cps_publisher_start(&pc, &e->publisher, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;

	cps_worker_conf_from_config(e->cfg, &wc);
	wc.bootstrap = e->bootstrap;
	wc.kafka_properties = &e->kafka_props;
	wc.conninfo = e->conninfo;
	wc.catalog = e->catalog;
	wc.rules = e->rules;
	wc.unified_framing = CPS_FRAMING_CONFLUENT;
	wc.registry = e->registry;
	wc.publisher = e->publisher;
	wc.status = e->status;
	wc.link = cps_status_add_link(e->status, "reconcile", "cpsync", "kafka", CPS_LINK_SOURCE);
	if (!wc.link)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	/* before anything trusts the stored offsets: are they of this topic? */
	tc.bootstrap = e->bootstrap;
	tc.kafka_props = &e->kafka_props;
	tc.topic = wc.ingest_topic;
	tc.conninfo = e->conninfo;
	tc.status = e->status;
	tc.link = wc.link;
	tc.create_topics = e->broker ? NULL : e->cfg;
	rc = cps_ingest_topic_start(&tc, &e->identity, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	wc.identity = e->identity;
	return cps_workers_start(&wc, &e->workers, errstr, errstr_size);
}

/* cps_ingest_reopen_fn: a fresh source with the same settings. */
static int source_reopen(void *arg, struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct engine_source *src = arg;

	return cps_connector_source_open(src->ops, src->platform, &src->settings, out, errstr,
	                                 errstr_size);
}

/* The source settings of platform `p`: its `source` map flattened, the
 * framing taken out (the ingest stage's, not the connector's); a Kafka
 * source without brokers reads cpsync's own Kafka (with its properties). */
static int source_settings(struct cps_engine *e, const struct cps_config_platform *p,
                           struct engine_source *src, enum cps_framing *framing, char *errstr,
                           size_t errstr_size)
{
	const char *name;
	char group[128];
	int rc = 0;

	if (cps_engine_flatten_settings(p->source, NULL, &src->settings) < 0)
		goto out_oom;
	name = cps_settings_get(&src->settings, "framing");
	/* Kafka messages carry a framing; the postgres and files sources hand
	 * over bare Avro (files name their writer schema in a header). */
	if (!name)
		name = strcmp(p->connector, "kafka") ? "raw" : DEFAULT_SOURCE_FRAMING;
	if (cps_framing_from_name(name, framing) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "platform '%s': source framing '%s' is not raw, confluent or "
		                  "single-object",
		                  p->name, name);
	settings_remove(&src->settings, "framing");
	if (strcmp(p->connector, "kafka") != 0)
		return CPS_OK;
	if (!cps_settings_get(&src->settings, "brokers")) {
		rc = cps_settings_set(&src->settings, "brokers", e->bootstrap);
		if (rc == 0)
			rc = cps_kafka_settings_for(CPS_KAFKA_CONSUMER, &e->kafka_props,
			                            &src->settings);
	}
	snprintf(group, sizeof(group), "cpsync-source-%s", p->name);
	if (rc == 0 && !cps_settings_get(&src->settings, "group_id"))
		rc = cps_settings_set(&src->settings, "group_id", group);
	if (rc == 0)
		return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

static int start_source(struct cps_engine *e, const struct cps_config_platform *p,
                        struct engine_source *src, char *errstr, size_t errstr_size)
{
	struct cps_ingest_conf ic = {0};
	struct cps_conn *conn = NULL;
	enum cps_framing framing;
	char name[64], err[CPS_ERRSTR_SIZE];
	int rc;

	src->engine = e;
	snprintf(src->platform, sizeof(src->platform), "%s", p->name);
	cps_settings_init(&src->settings);
	src->ops = cps_connector_find(p->connector);
	if (!src->ops)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "platform '%s': connector '%s' is not available in this build", p->name,
		    p->connector);
	rc = source_settings(e, p, src, &framing, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	snprintf(name, sizeof(name), "%s-source", p->name);
	src->link = cps_status_add_link(e->status, name, p->name, p->connector, CPS_LINK_SOURCE);
	if (!src->link)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	/* a replication slot or a file inbox has one reader across instances:
	 * the runner opens it once it holds the source's advisory lock */
	ic.single_reader = !strcmp(p->connector, "postgres") || !strcmp(p->connector, "files");
	if (ic.single_reader) /* bad settings fail the start all the same */
		rc = cps_settings_validate(&src->settings, src->ops->settings, src->ops->n_settings,
		                           CPS_SETTING_SOURCE, err, sizeof(err));
	else
		rc = cps_connector_source_open(src->ops, p->name, &src->settings, &conn, err,
		                               sizeof(err));
	if (rc != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "platform '%s' source: %s%s%s",
		                       p->name, ic.single_reader ? p->connector : "",
		                       ic.single_reader ? " source: " : "", err);
	ic.leader_retry_ms = (int)cps_config_get_int(e->cfg, "store.leader_retry_ms");
	ic.instance = cps_config_get_string(e->cfg, "instance");
	ic.platform = p->name;
	ic.source = conn;
	ic.framing = framing;
	ic.catalog = e->catalog;
	ic.registry = e->registry;
	ic.ingest_topic = cps_config_get_string(e->cfg, "kafka.ingest_topic");
	ic.dead_letter_topic = cps_config_get_string(e->cfg, "kafka.dead_letter_topic");
	ic.bootstrap = e->bootstrap;
	ic.kafka_props = &e->kafka_props;
	ic.store_conninfo = e->conninfo;
	ic.batch_max = (size_t)cps_config_get_int(e->cfg, "store.batch_size");
	ic.link = src->link;
	ic.status = e->status;
	ic.limits = &e->limits;
	ic.reopen = source_reopen;
	ic.reopen_arg = src;
	ic.identity = e->identity;
	rc = cps_ingest_start(&ic, &src->runner, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_source_close(conn);
		return cps_seterr(rc, errstr, errstr_size, "platform '%s' ingest: %s", p->name,
		                       err);
	}
	cps_log_info("ENGINE", "platform '%s': %s source started (%s framing%s)", p->name,
	             p->connector, cps_framing_name(framing),
	             ic.single_reader ? ", single reader under an advisory lock" : "");
	return CPS_OK;
}

static int start_sources(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	size_t np = cps_config_platform_count(e->cfg);
	int rc;

	rc = cps_connector_register_builtins(errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	e->sources = calloc(np ? np : 1, sizeof(*e->sources));
	if (!e->sources)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < np; i++) {
		struct cps_config_platform p;

		if (cps_config_platform_at(e->cfg, i, &p) != CPS_OK)
			continue;
		if (!p.enabled) {
			cps_log_info("ENGINE", "platform '%s' is disabled", p.name);
			continue;
		}
		if (!p.source || p.source->count == 0)
			continue;
		/* counted before the start so that stop releases its settings */
		rc = start_source(e, &p, &e->sources[e->n_sources++], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* One sink runner per enabled platform with a non-empty `sink` section. */
static int start_sinks(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	size_t np = cps_config_platform_count(e->cfg);

	e->sinks = calloc(np ? np : 1, sizeof(*e->sinks));
	if (!e->sinks)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < np; i++) {
		struct cps_config_platform p;
		struct cps_sink_runner_conf sc = {0};
		struct cps_settings settings;
		char name[64];
		int rc;

		if (cps_config_platform_at(e->cfg, i, &p) != CPS_OK || !p.enabled || !p.sink ||
		    p.sink->count == 0)
			continue;
		sc.ops = cps_connector_find(p.connector);
		if (!sc.ops)
			return cps_seterr(
			    CPS_ERR_FATAL, errstr, errstr_size,
			    "platform '%s': connector '%s' is not available in this build", p.name,
			    p.connector);
		cps_settings_init(&settings);
		if (cps_engine_flatten_settings(p.sink, NULL, &settings) < 0) {
			cps_settings_release(&settings);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		snprintf(name, sizeof(name), "%s-sink", p.name);
		sc.platform = p.name;
		sc.settings = &settings;
		sc.bootstrap = e->bootstrap;
		sc.kafka_props = &e->kafka_props;
		sc.topic_prefix = cps_config_get_string(e->cfg, "kafka.unified_topic_prefix");
		sc.catalog = e->catalog;
		sc.registry = e->registry;
		sc.store_conninfo = e->conninfo;
		sc.status = e->status;
		sc.link = cps_status_add_link(e->status, name, p.name, p.connector, CPS_LINK_SINK);
		sc.batch_max = (size_t)cps_config_get_int(e->cfg, "store.batch_size");
		rc = sc.link
		         ? cps_sink_runner_start(&sc, &e->sinks[e->n_sinks], errstr, errstr_size)
		         : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		cps_settings_release(&settings);
		if (rc != CPS_OK)
			return rc;
		e->n_sinks++;
		cps_log_info("ENGINE", "platform '%s': %s sink started", p.name, p.connector);
	}
	return CPS_OK;
}

/* The operator API (api_ops.h) over the running sources. */
static int start_ops_api(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	struct cps_ops_api_source *srcs = calloc(e->n_sources ? e->n_sources : 1, sizeof(*srcs));
	struct cps_ops_api_conf oc = {.store_conninfo = e->conninfo, .status = e->status};
	int rc;

	if (!srcs)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < e->n_sources; i++)
		if (e->sources[i].runner)
			srcs[oc.n_sources++] = (struct cps_ops_api_source){
			    e->sources[i].link->name, e->sources[i].platform, e->sources[i].runner};
	oc.sources = srcs;
	rc = cps_ops_api_new(&oc, &e->ops_api, errstr, errstr_size);
	free(srcs);
	if (rc == CPS_OK)
		rc = cps_ops_api_register(e->ops_api, e->http, errstr, errstr_size);
	return rc;
}

/* The steward API (api.h): conflicts, records, audit. */
static int start_steward_api(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	struct cps_api_conf ac = {
	    .conninfo = e->conninfo,
	    .catalog = e->catalog,
	    .registry = e->registry,
	    .unified_framing = CPS_FRAMING_CONFLUENT, /* as the reconcile workers */
	    .unified_topic_prefix = cps_config_get_string(e->cfg, "kafka.unified_topic_prefix"),
	    .rules = e->rules,
	    .publisher = e->publisher,
	};
	int rc = cps_api_new(&ac, &e->api, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_api_register(e->api, e->http, errstr, errstr_size);
	return rc;
}

/* ---- public -------------------------------------------------------------- */

int cps_engine_start(struct cps_config *cfg, const struct cps_engine_opts *opts,
                     struct cps_engine **out, char *errstr, size_t errstr_size)
{
	struct cps_engine *e;
	sigset_t set;
	char err[CPS_ERRSTR_SIZE];
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	e->cfg = cfg;
	atomic_init(&e->stop_requested, false);
	pthread_mutex_init(&e->wait_lock, NULL);
	pthread_cond_init(&e->wait_cond, NULL);
	cps_settings_init(&e->kafka_props);
	if (!(opts && opts->no_signals)) {
		/* before any thread starts: they all inherit the blocked set, so
		 * only cps_engine_wait's sigtimedwait receives the signals */
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &set, &e->old_mask);
		e->signals_blocked = true;
	}

	rc = cps_log_configure(cfg, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = cps_status_new(cps_config_get_string(cfg, "instance"), &e->status);
	if (rc != CPS_OK) {
		cps_seterr(rc, errstr, errstr_size, "out of memory");
		goto out_stop;
	}
	cps_guard_limits_default(&e->limits);
	e->limits.max_message_bytes = (size_t)cps_config_get_int(cfg, "codec.max_message_bytes");
	e->limits.max_items = (uint64_t)cps_config_get_int(cfg, "codec.max_items");
	e->limits.max_depth = (unsigned)cps_config_get_int(cfg, "codec.max_depth");
	e->conninfo = strdup(cps_config_get_string(cfg, "store.conninfo"));
	if (!e->conninfo) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_stop;
	}

	rc = load_schemas(e, opts, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = cps_rules_from_config(cfg, &e->rules, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_seterr(rc, errstr, errstr_size, "rules: %s", err);
		goto out_stop;
	}
	rc = migrate_store(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_kafka(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_http(e, opts, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_reconcile(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_sources(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_ops_api(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_steward_api(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	rc = start_sinks(e, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_stop;
	cps_log_info("ENGINE", "cpsync %s started: instance '%s', %zu links", CPSYNC_VERSION,
	             cps_config_get_string(cfg, "instance"), cps_status_link_count(e->status));
	*out = e;
	return CPS_OK;

out_stop:
	cps_engine_stop(e);
	return rc;
}

int cps_engine_wait(struct cps_engine *e)
{
	sigset_t set;
	struct timespec tick = {0, 200 * 1000 * 1000};

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (!atomic_load(&e->stop_requested)) {
		if (e->signals_blocked) {
			int sig = sigtimedwait(&set, NULL, &tick);

			if (sig == SIGINT || sig == SIGTERM) {
				cps_log_info("ENGINE", "%s received, stopping",
				             sig == SIGINT ? "SIGINT" : "SIGTERM");
				return sig;
			}
			continue;
		}
		pthread_mutex_lock(&e->wait_lock);
		if (!atomic_load(&e->stop_requested)) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += tick.tv_nsec;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&e->wait_cond, &e->wait_lock, &until);
		}
		pthread_mutex_unlock(&e->wait_lock);
	}
	cps_log_info("ENGINE", "stop requested");
	return 0;
}

void cps_engine_request_stop(struct cps_engine *e)
{
	pthread_mutex_lock(&e->wait_lock);
	atomic_store(&e->stop_requested, true);
	pthread_cond_broadcast(&e->wait_cond);
	pthread_mutex_unlock(&e->wait_lock);
}

void cps_engine_stop(struct cps_engine *e)
{
	if (!e)
		return;
	/* reverse order of start: sources, workers, publisher, HTTP, Kafka */
	cps_ops_api_detach(e->ops_api);
	cps_api_quiesce(e->api); /* before the publisher it wakes stops */
	for (size_t i = e->n_sinks; i-- > 0;)
		cps_sink_runner_stop(e->sinks[i]);
	free(e->sinks);
	for (size_t i = e->n_sources; i-- > 0;) {
		cps_ingest_stop_and_join(e->sources[i].runner);
		cps_settings_release(&e->sources[i].settings);
	}
	free(e->sources);
	cps_workers_stop(e->workers);
	cps_ingest_topic_stop(e->identity);
	cps_publisher_stop(e->publisher);
	cps_http_stop(e->http);
	cps_ops_api_free(e->ops_api);
	cps_api_free(e->api);
	cps_metrics_stop(e->metrics);
	cps_status_http_free(e->status_http);
	cps_broker_stop(e->broker);
	free(e->bootstrap);
	cps_settings_release(&e->kafka_props);
	cps_rules_free(e->rules);
	cps_registry_free(e->registry);
	cps_catalog_free(e->catalog);
	free(e->conninfo);
	if (e->status)
		cps_log_info("ENGINE", "stopped");
	cps_status_free(e->status);
	pthread_cond_destroy(&e->wait_cond);
	pthread_mutex_destroy(&e->wait_lock);
	if (e->signals_blocked)
		pthread_sigmask(SIG_SETMASK, &e->old_mask, NULL);
	free(e);
}

unsigned cps_engine_http_port(const struct cps_engine *e)
{
	return e->http ? cps_http_port(e->http) : 0;
}

struct cps_http_server *cps_engine_http(struct cps_engine *e)
{
	return e->http;
}

const char *cps_engine_bootstrap(const struct cps_engine *e)
{
	return e->bootstrap;
}

struct cps_status *cps_engine_status(struct cps_engine *e)
{
	return e->status;
}

struct cps_catalog *cps_engine_catalog(struct cps_engine *e)
{
	return e->catalog;
}
