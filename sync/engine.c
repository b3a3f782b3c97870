/*
 * The engine: starts cpsync's parts in dependency order — logging, schema
 * catalog and registry, rules, store migrations, Kafka (the embedded broker
 * and its topics, or external brokers), the HTTP server with /healthz,
 * /readyz and /status, the publisher, the reconcile workers, one ingest
 * runner per enabled platform source, the sinks and the APIs — and stops
 * them in reverse order. Each stage is a file of sync/engine/.
 */
#include "engine/engine_int.h"
#include "api/api.h"
#include "api/api_ops.h"
#include "api/api_republish.h"
#include "base/live.h"
#include "api/api_sweeps.h"
#include "base/log.h"
#include "config/log_config.h"
#include "codec/registry.h"
#include "codec/schema.h"
#include "ingest/ingest.h"
#include "ingest/ingest_topic.h"
#include "kafka/broker.h"
#include "observe/metrics.h"
#include "publish/publish.h"
#include "policy/policy.h"
#include "reconcile/rules.h"
#include "sink/sink_runner.h"
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The survivorship rules from the configuration. */
static int load_rules(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                      size_t errstr_size)
{
	char err[CPS_ERRSTR_SIZE];
	int rc = cps_rules_from_config(e->cfg, &e->rules, err, sizeof(err));

	(void)opts;
	if (rc != CPS_OK)
		cps_seterr(rc, errstr, errstr_size, "rules: %s", err);
	return rc;
}

/* The policy from the configuration; its standards are checked at once (a
 * 特困 standard below 1.6 × the 低保 standard is a WARN line per standard). */
static int load_policy(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                       size_t errstr_size)
{
	json_t *findings = json_array(), *f;
	size_t i;
	int rc = cps_policy_from_config(e->cfg, &e->policy, errstr, errstr_size);

	(void)opts;
	if (rc == CPS_OK && findings && cps_policy_check_standards(e->policy, findings) == CPS_OK)
		json_array_foreach (findings, i, f)
			cps_log_warn("policy", "standard '%s': %s: %s",
			             json_string_value(json_object_get(f, "key")),
			             json_string_value(json_object_get(f, "check")),
			             json_string_value(json_object_get(f, "detail")));
	json_decref(findings);
	return rc;
}

/* The stages after logging, status and limits, in dependency order. */
static cps_engine_stage_fn *const stages[] = {
    cps_engine_load_schemas,
    load_rules,
    load_policy,
    cps_engine_migrate_store,
    cps_engine_record_rules,
    cps_engine_start_kafka,
    cps_engine_start_http,
    cps_engine_start_reconcile,
    cps_engine_start_sources,
    cps_engine_start_sinks,
    cps_engine_start_ops_api,
    cps_engine_start_steward_api,
    cps_engine_start_republish_api,
    cps_engine_start_sweeps,
};

int cps_engine_start(struct cps_config *cfg, const struct cps_engine_opts *opts,
                     struct cps_engine **out, char *errstr, size_t errstr_size)
{
	struct cps_engine *e;
	sigset_t set;
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	e->cfg = cfg;
	atomic_init(&e->stop_requested, false);
	pthread_mutex_init(&e->wait_lock, NULL);
	pthread_cond_init(&e->wait_cond, NULL);
	pthread_mutex_init(&e->reload_lock, NULL);
	cps_settings_init(&e->kafka_props);
	if (!(opts && opts->no_signals)) {
		/* before any thread starts: they all inherit the blocked set, so
		 * only cps_engine_wait's sigtimedwait receives the signals */
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGHUP);
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

	for (size_t i = 0; i < CPS_ARRAY_SIZE(stages); i++) {
		rc = stages[i](e, opts, errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_stop;
	}
	cps_log_info("ENGINE", "cpsync %s started: instance '%s', %zu links", CPSYNC_VERSION,
	             cps_config_get_string(cfg, "instance"), cps_status_link_count(e->status));
	cps_engine_notify_ready(e);
	*out = e;
	return CPS_OK;

out_stop:
	cps_engine_stop(e);
	return rc;
}

/* SIGHUP: log.level, log.format and log.debug from the configuration file
 * cpsync was started with; a file that does not load changes nothing. */
static void reload_log_settings(struct cps_engine *e)
{
	const char *path = cps_config_file(e->cfg);
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *fresh;

	if (!path) {
		cps_log_warn("ENGINE",
		             "SIGHUP ignored: the configuration did not come from a file");
		return;
	}
	if (cps_config_load(path, &fresh, err, sizeof(err)) != CPS_OK) {
		cps_log_warn("ENGINE", "SIGHUP: log settings unchanged: %s", err);
		return;
	}
	if (cps_log_configure(fresh, err, sizeof(err)) != CPS_OK)
		cps_log_warn("ENGINE", "SIGHUP: log settings unchanged: %s", err);
	else
		cps_log_info("ENGINE", "SIGHUP: log settings re-read from '%s': level %s", path,
		             cps_log_level_name(cps_log_get_level()));
	cps_config_free(fresh);
}

/* SIGHUP: rules, policy, API tokens and log settings from the file
 * (cps_engine_reload, which logs what it did or why it refused); a
 * configuration not from a file: log settings as before (nothing else). */
static void reload_on_sighup(struct cps_engine *e)
{
	char err[CPS_ERRSTR_SIZE];

	if (!cps_config_file(e->cfg) || !e->rules_live)
		reload_log_settings(e);
	else
		cps_engine_reload(e, err, sizeof(err));
}

/* The engine's own loop: signals, stop requests and the systemd watchdog,
 * which it feeds only while it runs (a hung loop stops the pings). */
int cps_engine_wait(struct cps_engine *e)
{
	sigset_t set;
	struct timespec tick = {0, 200 * 1000 * 1000};

	if (e->watchdog_usec && e->watchdog_usec / 4 < 200000u)
		tick.tv_nsec = (long)(e->watchdog_usec / 4 * 1000u);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	while (!atomic_load(&e->stop_requested)) {
		cps_engine_notify_watchdog(e);
		if (e->signals_blocked) {
			int sig = sigtimedwait(&set, NULL, &tick);

			if (sig == SIGINT || sig == SIGTERM) {
				cps_log_info("ENGINE", "%s received, stopping",
				             sig == SIGINT ? "SIGINT" : "SIGTERM");
				return sig;
			}
			if (sig == SIGHUP)
				reload_on_sighup(e);
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
	if (e->status)
		cps_engine_notify_stopping(e);
	/* reverse order of start: sources, workers, publisher, HTTP, Kafka */
	cps_ops_api_detach(e->ops_api);
	cps_api_quiesce(e->api); /* before the publisher it wakes stops */
	cps_republish_api_stop(e->republish_api);
	cps_sweeper_stop(e->sweeper); /* before the sources' settings it reads go */
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
	cps_sweeps_api_free(e->sweeps_api);
	cps_sweeper_free(e->sweeper);
	cps_ops_api_free(e->ops_api);
	cps_api_free(e->api);
	cps_republish_api_free(e->republish_api);
	cps_metrics_stop(e->metrics);
	cps_status_http_free(e->status_http);
	cps_broker_stop(e->broker);
	free(e->bootstrap);
	cps_settings_release(&e->kafka_props);
	if (e->rules_live)
		cps_live_free(e->rules_live);
	else
		cps_rules_free(e->rules);
	if (e->policy_live)
		cps_live_free(e->policy_live);
	else
		cps_policy_free(e->policy);
	cps_registry_free(e->registry);
	cps_catalog_free(e->catalog);
	json_decref(e->paused_links);
	free(e->conninfo);
	if (e->status)
		cps_log_info("ENGINE", "stopped");
	cps_status_free(e->status);
	pthread_cond_destroy(&e->wait_cond);
	pthread_mutex_destroy(&e->wait_lock);
	pthread_mutex_destroy(&e->reload_lock);
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
