/*
 * The engine's HTTP stage: the server with /healthz, /readyz, /status,
 * /metrics and the dashboard, its API tokens, and once the sources run the
 * operator API (dead letters, connector controls) and the steward API
 * (conflicts, records, audit) on it.
 */
#include "engine/engine_int.h"
#include "api/api.h"
#include "api/api_ops.h"
#include "base/log.h"
#include "codec/framing.h"
#include "http/dashboard.h"
#include "observe/metrics.h"
#include "sink/sink_runner.h"

#include <stdio.h>
#include <stdlib.h>

/* Each answered request as a debug line of context http: the route
 * pattern, never the path (it may hold a national ID). @locality HTTP thread */
static void access_log(void *ctx, const char *method, const char *route_pattern, int status,
                       double ms)
{
	(void)ctx;
	cps_log_debug(CPS_DBG_HTTP, "HTTP", "%s %s %d %.1f ms", method, route_pattern, status, ms);
}

int cps_engine_start_http(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
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
	hc.max_per_ip = (unsigned)cps_config_get_int(e->cfg, "http.max_connections_per_ip");
	hc.request_deadline_s = (unsigned)cps_config_get_int(e->cfg, "http.request_deadline_s");
	hc.threads = (unsigned)cps_config_get_int(e->cfg, "http.api_workers");
	hc.ready = cps_status_http_ready;
	hc.ready_ctx = e->status_http;
	hc.access_log = access_log;
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

/* The operator API (api_ops.h) over the running sources, sinks and publisher. */
int cps_engine_start_ops_api(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                             size_t errstr_size)
{
	struct cps_ops_api_source *srcs = calloc(e->n_sources ? e->n_sources : 1, sizeof(*srcs));
	struct cps_ops_api_sink *sinks = calloc(e->n_sinks ? e->n_sinks : 1, sizeof(*sinks));
	char(*names)[CPS_PLATFORM_MAX + 8] = calloc(e->n_sinks ? e->n_sinks : 1, sizeof(*names));
	struct cps_ops_api_conf oc = {.store_conninfo = e->conninfo, .status = e->status};
	int rc;

	(void)opts;
	if (!srcs || !sinks || !names) {
		free(srcs);
		free(sinks);
		free(names);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	for (size_t i = 0; i < e->n_sinks; i++) {
		snprintf(names[i], sizeof(names[i]), "%s-sink",
		         cps_sink_runner_platform(e->sinks[i]));
		sinks[oc.n_sinks++] = (struct cps_ops_api_sink){names[i], e->sinks[i]};
	}
	oc.sinks = sinks;
	oc.publisher = e->publisher;
	oc.workers = e->workers;
	for (size_t i = 0; i < e->n_sources; i++)
		if (e->sources[i].runner)
			srcs[oc.n_sources++] = (struct cps_ops_api_source){
			    e->sources[i].link->name, e->sources[i].platform, e->sources[i].runner};
	oc.sources = srcs;
	rc = cps_ops_api_new(&oc, &e->ops_api, errstr, errstr_size);
	free(srcs);
	free(sinks);
	free(names);
	if (rc == CPS_OK)
		rc = cps_ops_api_register(e->ops_api, e->http, errstr, errstr_size);
	return rc;
}

/* The steward API (api.h): conflicts, records, audit. */
int cps_engine_start_steward_api(struct cps_engine *e, const struct cps_engine_opts *opts,
                                 char *errstr, size_t errstr_size)
{
	struct cps_api_conf ac = {
	    .conninfo = e->conninfo,
	    .catalog = e->catalog,
	    .registry = e->registry,
	    .unified_framing = CPS_FRAMING_CONFLUENT, /* as the reconcile workers */
	    .unified_topic_prefix = cps_config_get_string(e->cfg, "kafka.unified_topic_prefix"),
	    .rules = e->rules,
	    .publisher = e->publisher,
	    .rules_live = e->rules_live,
	    .policy_live = e->policy_live,
	    .instance = cps_config_get_string(e->cfg, "instance"),
	    .reload = cps_engine_reload_cb,
	    .reload_ctx = e,
	};
	const char *names[65] = {0};
	struct cps_config_platform pl;
	int rc;

	(void)opts;
	for (size_t i = 0; i < 64 && cps_config_platform_at(e->cfg, i, &pl) == CPS_OK; i++)
		names[i] = pl.name;
	ac.platforms = names;
	rc = cps_api_new(&ac, &e->api, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_api_register(e->api, e->http, errstr, errstr_size);
	return rc;
}
