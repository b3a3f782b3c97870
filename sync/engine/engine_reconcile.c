/*
 * The engine's reconcile stage: the publisher of the unified topics, the
 * ingest topic's identity check (before anything trusts the stored offsets)
 * and the reconcile workers.
 */
#include "engine/engine_int.h"
#include "codec/framing.h"
#include "ingest/ingest_topic.h"
#include "base/log.h"
#include "publish/publish.h"
#include "reconcile/unified.h"
#include "worker/worker.h"

/* Registry discipline (issue 13, item 9): the workers produce unified
 * events with the registry's ids, so they start only when the registry
 * accepts every <entity>_event schema. A refusal leaves the reconcile link
 * FAILED with the reason in /status (the rest of cpsync runs, so /status
 * can say it); a registry that cannot be asked now is no refusal: ids are
 * asked again at first use, and registering there checks compatibility too.
 * Returns whether the workers may start. */
static bool registry_accepts(struct cps_engine *e, const struct cps_worker_conf *wc)
{
	struct cps_unified_conf uc = {.catalog = e->catalog,
	                              .framing = wc->unified_framing,
	                              .registry = e->registry,
	                              .topic_prefix = wc->unified_topic_prefix};
	char err[CPS_ERRSTR_SIZE], msg[CPS_ERRSTR_SIZE + 64];
	int rc = cps_unified_registry_check(&uc, err, sizeof(err));

	if (rc == CPS_OK)
		return true;
	if (rc == CPS_ERR_RETRIABLE) {
		cps_log_warn("SCHEMA", "schema registry not asked (ids are asked at first use): %s",
		             err);
		return true;
	}
	snprintf(msg, sizeof(msg), "not started: %s", err);
	cps_log_error("SCHEMA", "reconcile link %s", msg);
	cps_link_set_state(wc->link, CPS_LINK_FAILED);
	cps_link_set_error(e->status, wc->link, msg);
	return false;
}

int cps_engine_start_reconcile(struct cps_engine *e, const struct cps_engine_opts *opts,
                               char *errstr, size_t errstr_size)
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

	(void)opts;
	pc.leader_retry_ms = (int)cps_config_get_int(e->cfg, "store.leader_retry_ms");
	pc.retention_ms = cps_config_get_int(e->cfg, "store.history_retention");
	pc.retain_ms[CPS_RETAIN_DEAD_LETTER_RAW] =
	    cps_config_get_int(e->cfg, "store.dead_letter_raw_retention");
	pc.retain_ms[CPS_RETAIN_DEAD_LETTERS] =
	    cps_config_get_int(e->cfg, "store.dead_letter_retention");
	pc.retain_ms[CPS_RETAIN_CONFLICTS] = cps_config_get_int(e->cfg, "store.conflict_retention");
	pc.retain_ms[CPS_RETAIN_AUDIT_VALUES] =
	    cps_config_get_int(e->cfg, "store.audit_value_retention");
	pc.link =
	    cps_engine_add_link(e, "publisher", "cpsync", "kafka", CPS_LINK_SINK, &pc.start_paused);
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
	wc.policy = e->policy;
	wc.rules_live = e->rules_live;
	wc.policy_live = e->policy_live;
	wc.unified_framing = CPS_FRAMING_CONFLUENT;
	wc.registry = e->registry;
	wc.publisher = e->publisher;
	wc.status = e->status;
	wc.link = cps_engine_add_link(e, "reconcile", "cpsync", "kafka", CPS_LINK_SOURCE,
	                              &wc.start_paused);
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
	if (!registry_accepts(e, &wc))
		return CPS_OK;
	return cps_workers_start(&wc, &e->workers, errstr, errstr_size);
}
