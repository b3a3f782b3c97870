/*
 * The engine's source stage: for each enabled platform with a `source`
 * section, its connector settings (framing taken out, cpsync's own Kafka by
 * default), a status link and an ingest runner — single-reader sources
 * (postgres, files) under their advisory lock, reopened by the runner.
 */
#include "engine/engine_int.h"
#include "base/log.h"
#include "codec/framing.h"
#include "ingest/ingest.h"
#include "kafka/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SOURCE_FRAMING "single-object"

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
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "platform '%s': source framing '%s' is not raw, confluent or single-object",
		    p->name, name);
	cps_engine_settings_remove(&src->settings, "framing");
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
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "platform '%s': connector '%s' is not available in this build",
		                  p->name, p->connector);
	rc = source_settings(e, p, src, &framing, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	src->framing = framing;
	snprintf(name, sizeof(name), "%s-source", p->name);
	src->link =
	    cps_engine_add_link(e, name, p->name, p->connector, CPS_LINK_SOURCE, &ic.start_paused);
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
		return cps_seterr(rc, errstr, errstr_size, "platform '%s' source: %s%s%s", p->name,
		                  ic.single_reader ? p->connector : "",
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
	ic.dead_letter_raw = cps_config_get_bool(e->cfg, "kafka.dead_letter_raw");
	ic.bootstrap = e->bootstrap;
	ic.kafka_props = &e->kafka_props;
	ic.store_conninfo = e->conninfo;
	ic.batch_max = (size_t)cps_config_get_int(e->cfg, "store.batch_size");
	ic.link = src->link;
	ic.status = e->status;
	ic.limits = &e->limits;
	ic.reopen = source_reopen;
	ic.reopen_arg = src;
	ic.ops = src->ops;
	ic.settings = &src->settings;
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

int cps_engine_start_sources(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                             size_t errstr_size)
{
	size_t np = cps_config_platform_count(e->cfg);
	int rc;

	(void)opts;
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
