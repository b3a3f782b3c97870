/*
 * Reconcile worker threads (worker.h, ENGINE.md "Reconcile worker"): the
 * pool's lifecycle — its configuration copied, one event codec, unified
 * encoder and consumer per worker, the threads (worker_consume.c) started,
 * stopped and joined — and its figures.
 */
#include "worker/worker_int.h"
#include "config/config.h"
#include "reconcile/unified.h"

#include <stdlib.h>
#include <string.h>

static void workers_free(struct cps_workers *p)
{
	for (int i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (w->rk) {
			rd_kafka_consumer_close(w->rk); /* revokes through on_rebalance */
			rd_kafka_destroy(w->rk);
		}
		cps_store_close(w->store);
		cps_unified_free(w->uni);
		cps_event_codec_free(w->ec);
		cps_worker_policy_free(w->policy);
		cps_state_cache_free(w->cache);
		for (int e = 0; e < CPS_N_ENTITIES; e++)
			cps_record_schema_free(w->typed_rs[e]);
	}
	free(p->w);
	cps_settings_release(&p->props);
	cps_arena_release(&p->strings);
	free(p);
}

int cps_workers_start(const struct cps_worker_conf *conf, struct cps_workers **out, char *errstr,
                      size_t errstr_size)
{
	struct cps_workers *p;
	int rc = CPS_OK;

	*out = NULL;
	if (!conf || !conf->bootstrap || !conf->conninfo || !conf->catalog || !conf->rules ||
	    conf->workers < 1)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "reconcile workers need a bootstrap, a store, a catalog, rules and at least one worker");
	p = calloc(1, sizeof(*p));
	if (!p)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	p->conf = *conf;
	cps_settings_init(&p->props);
	cps_arena_init(&p->strings, 1024);
	p->conf.bootstrap = cps_arena_strdup(&p->strings, conf->bootstrap);
	p->conf.ingest_topic = cps_arena_strdup(&p->strings, conf->ingest_topic ? conf->ingest_topic
	                                                                        : "cpsync.ingest");
	p->conf.group_id =
	    cps_arena_strdup(&p->strings, conf->group_id ? conf->group_id : "cpsync-reconcile");
	p->conf.unified_topic_prefix =
	    cps_arena_strdup(&p->strings, conf->unified_topic_prefix ? conf->unified_topic_prefix
	                                                             : "cpsync.unified.");
	p->conf.conninfo = cps_arena_strdup(&p->strings, conf->conninfo);
	p->conf.kafka_properties = NULL;
	if (!p->conf.batch_size)
		p->conf.batch_size = 1000;
	if (p->conf.batch_ms <= 0)
		p->conf.batch_ms = 50;
	if (p->conf.unified_framing == CPS_FRAMING_RAW)
		p->conf.unified_framing = CPS_FRAMING_CONFLUENT;
	p->w = calloc((size_t)conf->workers, sizeof(*p->w));
	if (!p->w || !p->conf.bootstrap || !p->conf.ingest_topic || !p->conf.group_id ||
	    !p->conf.unified_topic_prefix || !p->conf.conninfo ||
	    (conf->kafka_properties && cps_settings_copy(&p->props, conf->kafka_properties))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	p->n = conf->workers;
	for (int i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		struct cps_unified_conf uc = {
		    .catalog = p->conf.catalog,
		    .framing = p->conf.unified_framing,
		    .registry = p->conf.registry,
		    .topic_prefix = p->conf.unified_topic_prefix,
		};

		w->pool = p;
		w->idx = i;
		rc = cps_event_codec_new(p->conf.catalog, &w->ec, errstr, errstr_size);
		if (rc == CPS_OK && p->conf.state_cache_bytes &&
		    !(w->cache = cps_state_cache_new(p->conf.state_cache_bytes / (size_t)p->n,
		                                     p->conf.link ? &p->conf.link->cache : NULL)))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (rc == CPS_OK)
			rc = cps_unified_new(&uc, &w->uni, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = cps_worker_consumer_new(w, errstr, errstr_size);
		if (rc != CPS_OK)
			goto fail;
	}
	if (p->conf.link) {
		atomic_store(&p->conf.link->cache.cap_bytes, (int64_t)p->conf.state_cache_bytes);
		cps_link_set_state(p->conf.link, CPS_LINK_STARTING);
	}
	cps_pause_init(&p->pause, conf->start_paused, NULL, NULL);
	for (int i = 0; i < p->n; i++) {
		if (pthread_create(&p->w[i].thread, NULL, cps_worker_run, &p->w[i]) != 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                "cannot start reconcile worker %d", i);
			goto fail;
		}
		p->w[i].started = 1;
	}
	*out = p;
	return CPS_OK;
fail:
	atomic_store(&p->stop, 1);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	workers_free(p);
	return rc;
}

void cps_workers_stop(struct cps_workers *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	if (p->conf.link)
		cps_link_set_state(p->conf.link, CPS_LINK_STOPPED);
	workers_free(p);
}

struct cps_pause *cps_workers_pause(struct cps_workers *p)
{
	return &p->pause;
}

void cps_workers_get_stats(struct cps_workers *p, struct cps_worker_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->batches = atomic_load(&p->batches);
	out->events = atomic_load(&p->events);
	out->emitted = atomic_load(&p->emitted);
	out->dead_letters = atomic_load(&p->dead_letters);
	out->conflicts = atomic_load(&p->conflicts);
	out->retries = atomic_load(&p->retries);
}

void cps_worker_conf_from_config(const struct cps_config *cfg, struct cps_worker_conf *conf)
{
	conf->ingest_topic = cps_config_get_string(cfg, "kafka.ingest_topic");
	conf->group_id = cps_config_get_string(cfg, "kafka.group_id");
	conf->unified_topic_prefix = cps_config_get_string(cfg, "kafka.unified_topic_prefix");
	conf->conninfo = cps_config_get_string(cfg, "store.conninfo");
	conf->workers = (int)cps_config_get_int(cfg, "reconcile.workers");
	conf->batch_size = (size_t)cps_config_get_int(cfg, "store.batch_size");
	conf->batch_ms = (int)cps_config_get_int(cfg, "store.batch_ms");
	conf->state_cache_bytes =
	    (size_t)cps_config_get_int(cfg, "reconcile.state_cache_mb") * 1024 * 1024;
}

void cps_workers_stop_stats(struct cps_workers *p, struct cps_worker_stats *out)
{
	if (!p) {
		memset(out, 0, sizeof(*out));
		return;
	}
	atomic_store(&p->stop, 1);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started) {
			pthread_join(p->w[i].thread, NULL);
			p->w[i].started = 0;
		}
	cps_workers_get_stats(p, out);
	cps_workers_stop(p);
}
