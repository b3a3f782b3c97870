/*
 * The ingest stage's lifecycle (ingest.h): validating the configuration,
 * building a runner (codecs, idempotent producer) and starting its thread
 * (ingest_runner.c), pause, resume and restart between polls, stats, and
 * stop. The message path is ingest_message.c, replays ingest_replay.c.
 */
#include "ingest/ingest_int.h"
#include "base/log.h"
#include "model/entity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cps_ingest_runner_free(struct cps_ingest *r)
{
	if (!r)
		return;
	if (r->replay) {
		cps_ingest_runner_free(r->replay);
		r->replay = NULL;
	}
	cps_ingest_producer_free(r);
	cps_ingest_leader_release(r);
	cps_ingest_acks_free(r->acks);
	free(r->produced);
	cps_store_close(r->store);
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		cps_codec_free(r->codec[i]);
		cps_record_schema_free(r->rschema[i]);
	}
	cps_arena_release(&r->arena);
	cps_event_codec_free(r->events);
	cps_buf_release(&r->value);
	cps_buf_release(&r->key);
	cps_deadletters_release(&r->dead);
	cps_settings_release(&r->props);
	free(r->positions);
	cps_arena_release(&r->strings);
	free(r);
}

/* The platform must be a symbol of the IngestEvent's Platform enum. */
static int check_platform(struct cps_catalog *catalog, const char *platform, char *errstr,
                          size_t errstr_size)
{
	struct cps_schema *s = cps_catalog_by_entity(catalog, "ingest_event");
	avro_schema_t field;
	char upper[CPS_PLATFORM_MAX];
	size_t i;

	if (!s)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the schema catalog has no ingest_event schema");
	field = avro_schema_record_field_get(s->avro, "platform");
	for (i = 0; platform[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)toupper((unsigned char)platform[i]);
	upper[i] = '\0';
	if (!field || avro_schema_enum_get_by_name(field, upper) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "platform '%s' is not one of the IngestEvent's", platform);
	return CPS_OK;
}

struct cps_ingest *cps_ingest_alloc(const char *platform, enum cps_framing framing,
                                    struct cps_catalog *catalog, struct cps_registry *registry)
{
	struct cps_ingest *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->platform, sizeof(r->platform), "%s", platform);
	cps_settings_init(&r->props);
	cps_buf_init(&r->value, 0);
	cps_buf_init(&r->key, 0);
	cps_deadletters_init(&r->dead);
	cps_arena_init(&r->arena, 0);
	cps_arena_init(&r->strings, 1024);
	r->framing = framing;
	r->catalog = catalog;
	r->registry = registry;
	return r;
}

int cps_ingest_codecs_open(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE];
	int rc;

	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		struct cps_schema *s = cps_catalog_by_entity(r->catalog, cps_entities[i]);

		if (!s)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "the schema catalog has no '%s' schema", cps_entities[i]);
		rc = cps_codec_new(s, r->has_limits ? &r->limits : NULL, &r->codec[i], errstr,
		                   errstr_size);
		if (rc != CPS_OK)
			return rc;
		/* without it the entity's records take the JSON way: slower, same result */
		if (cps_record_schema_new(s, &r->rschema[i], why, sizeof(why)) != CPS_OK)
			cps_log_warn(FACILITY, "no typed decoder for '%s': %s", cps_entities[i],
			             why);
	}
	return cps_event_codec_new(r->catalog, &r->events, errstr, errstr_size);
}

int cps_ingest_path_open(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	int rc = cps_ingest_codecs_open(r, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	return cps_ingest_producer_new(r, errstr, errstr_size);
}

int cps_ingest_set_endpoints(struct cps_ingest *r, const char *ingest_topic,
                             const char *dead_letter_topic, const char *store_conninfo,
                             const char *bootstrap)
{
	bool dlt = dead_letter_topic && *dead_letter_topic;

	r->ingest_topic = cps_arena_strdup(&r->strings, ingest_topic);
	r->dead_letter_topic = dlt ? cps_arena_strdup(&r->strings, dead_letter_topic) : NULL;
	r->store_conninfo = cps_arena_strdup(&r->strings, store_conninfo);
	r->bootstrap = cps_arena_strdup(&r->strings, bootstrap);
	r->acks = cps_ingest_acks_new(r->ingest_topic);
	if (!r->ingest_topic || (dlt && !r->dead_letter_topic) || !r->store_conninfo ||
	    !r->bootstrap || !r->acks)
		return -1;
	return 0;
}

int cps_ingest_start(const struct cps_ingest_conf *conf, struct cps_ingest **out, char *errstr,
                     size_t errstr_size)
{
	struct cps_ingest *r;
	int rc;

	if (!conf->platform || !*conf->platform || strlen(conf->platform) >= CPS_NAME_MAX)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "ingest needs a platform name");
	if (conf->single_reader && !conf->reopen)
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "ingest of '%s' as a single reader needs a way to reopen its source",
		    conf->platform);
	if ((!conf->source && !conf->single_reader) || (conf->source && !conf->source->is_source))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "ingest of '%s' needs an open source", conf->platform);
	if (!conf->catalog || !conf->ingest_topic || !*conf->ingest_topic || !conf->bootstrap ||
	    !*conf->bootstrap || !conf->store_conninfo)
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "ingest of '%s' needs a catalog, an ingest topic, brokers and a store",
		    conf->platform);
	rc = check_platform(conf->catalog, conf->platform, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	r = cps_ingest_alloc(conf->platform, conf->framing, conf->catalog, conf->registry);
	if (!r)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	r->batch_max = conf->batch_max ? conf->batch_max : 500;
	r->poll_timeout_ms = conf->poll_timeout_ms > 0 ? conf->poll_timeout_ms : 200;
	r->flush_timeout_ms = conf->flush_timeout_ms > 0 ? conf->flush_timeout_ms : 30000;
	r->backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : 5000;
	r->link = conf->link;
	r->status = conf->status;
	r->reopen = conf->reopen;
	r->reopen_arg = conf->reopen_arg;
	r->single_reader = conf->single_reader;
	r->dead_letter_raw = conf->dead_letter_raw;
	r->leader_retry_ms = conf->leader_retry_ms > 0 ? conf->leader_retry_ms : 2000;
	r->identity = conf->identity;
	r->ops = conf->ops;
	r->settings = conf->settings;
	snprintf(r->instance, sizeof(r->instance), "%s", conf->instance ? conf->instance : "");
	if (conf->limits) {
		r->limits = *conf->limits;
		r->has_limits = true;
	}
	if (cps_ingest_set_endpoints(r, conf->ingest_topic, conf->dead_letter_topic,
	                             conf->store_conninfo, conf->bootstrap) < 0 ||
	    (conf->kafka_props && cps_settings_copy(&r->props, conf->kafka_props) < 0)) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	rc = cps_ingest_path_open(r, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	r->source = conf->source;
	if (r->link)
		cps_link_set_state(r->link, CPS_LINK_STARTING);
	pthread_mutex_init(&r->replay_lock, NULL);
	pthread_mutex_init(&r->offsets_lock, NULL);
	pthread_mutex_init(&r->reset_serial, NULL);
	pthread_cond_init(&r->offsets_cv, NULL);
	cps_pause_init(&r->pause, conf->start_paused, NULL, NULL);
	if (pthread_create(&r->thread, NULL, cps_ingest_runner_main, r) != 0) {
		pthread_mutex_destroy(&r->replay_lock);
		pthread_mutex_destroy(&r->offsets_lock);
		pthread_mutex_destroy(&r->reset_serial);
		pthread_cond_destroy(&r->offsets_cv);
		r->source = NULL;
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "cannot start the ingest thread of '%s'", conf->platform);
		goto out_free;
	}
	*out = r;
	return CPS_OK;

out_free:
	cps_ingest_runner_free(r);
	return rc;
}

struct cps_pause *cps_ingest_pause(struct cps_ingest *r)
{
	return &r->pause;
}

void cps_ingest_stop_and_join(struct cps_ingest *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	cps_source_close(r->source);
	r->source = NULL;
	cps_ingest_leader_release(r); /* after the source: another instance may take over now */
	pthread_mutex_destroy(&r->replay_lock);
	pthread_mutex_destroy(&r->offsets_lock);
	pthread_mutex_destroy(&r->reset_serial);
	pthread_cond_destroy(&r->offsets_cv);
	cps_ingest_runner_free(r);
}

void cps_ingest_get_stats(struct cps_ingest *r, struct cps_ingest_stats *out)
{
	out->accepted = atomic_load(&r->accepted);
	out->dead_letters = atomic_load(&r->dead_letters);
	out->errors = atomic_load(&r->errors);
	out->commits = atomic_load(&r->commits);
	out->restarts = atomic_load(&r->restarts);
}

int cps_ingest_restart(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	if (!r->reopen)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the source of '%s' has no way to reopen, it cannot restart",
		                  r->platform);
	atomic_store(&r->restart, true);
	return CPS_OK;
}
