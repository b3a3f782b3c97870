/*
 * The engine's sink stage: one sink runner (sink_runner.h) per enabled
 * platform with a non-empty `sink` section, with its flattened settings and
 * a status link.
 */
#include "engine/engine_int.h"
#include "base/log.h"
#include "sink/sink_runner.h"

#include <stdio.h>
#include <stdlib.h>

/* One sink runner per enabled platform with a non-empty `sink` section. */
int cps_engine_start_sinks(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                           size_t errstr_size)
{
	size_t np = cps_config_platform_count(e->cfg);

	(void)opts;
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
		sc.link = cps_engine_add_link(e, name, p.name, p.connector, CPS_LINK_SINK,
		                              &sc.start_paused);
		sc.batch_max = (size_t)cps_config_get_int(e->cfg, "store.batch_size");
		sc.retry_attempts = (int)cps_config_get_int(e->cfg, "sinks.retry_attempts");
		sc.retry_backoff_ms = (int)cps_config_get_int(e->cfg, "sinks.retry_backoff_ms");
		sc.retry_backoff_max_ms =
		    (int)cps_config_get_int(e->cfg, "sinks.retry_backoff_max_ms");
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
