/*
 * The engine's Kafka stage: external brokers as configured, or the embedded
 * broker created with every topic cpsync and the platforms use (ingest,
 * dead-letter, one unified topic per entity, the Kafka sources' and sinks'
 * topics).
 */
#include "engine/engine_int.h"
#include "base/comma_list.h"
#include "base/log.h"
#include "kafka/broker.h"
#include "model/entity.h"
#include "publish/publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (cps_grow(&t->names, &t->cap, t->n + 1, sizeof(*t->names)) != 0)
		return -1;
	copy = strndup(name, len);
	if (!copy)
		return -1;
	t->names[t->n++] = copy;
	return 0;
}

/* Adds each element of a comma-separated list. */
static int topic_add_list(struct topic_list *t, const char *list)
{
	const char *name;
	size_t len;

	while (cps_comma_list_next(&list, &name, &len))
		if (topic_add(t, name, len) < 0)
			return -1;
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

/* Consumer-group timeouts for the embedded broker, unless configured. Its
 * coordinator (librdkafka's mock cluster) waits session.timeout.ms - 1 s for
 * more members whenever one joins a group that already has an assignment:
 * with the default 45 s, a reconcile worker that joined a moment after the
 * first one stalled the whole group for 44 s. In one process with no
 * network, heartbeats do not get lost, so 6 s is safe. 0, or -1 when out of
 * memory. */
static int embedded_group_timeouts(struct cps_settings *props)
{
	static const char *const keys[][3] = {
	    {"kafka.consumer.session.timeout.ms", "kafka.properties.session.timeout.ms", "6000"},
	    {"kafka.consumer.heartbeat.interval.ms", "kafka.properties.heartbeat.interval.ms",
	     "1000"},
	};

	for (size_t i = 0; i < CPS_ARRAY_SIZE(keys); i++)
		if (!cps_settings_get(props, keys[i][0]) && !cps_settings_get(props, keys[i][1]) &&
		    cps_settings_set(props, keys[i][0], keys[i][2]) < 0)
			return -1;
	return 0;
}

int cps_engine_start_kafka(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                           size_t errstr_size)
{
	const char *brokers = cps_config_get_string(e->cfg, "kafka.brokers");
	struct topic_list topics = {0};
	int rc;

	(void)opts;
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
	if (!e->bootstrap || embedded_group_timeouts(&e->kafka_props) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_status_set_bootstrap(e->status, e->bootstrap);
	cps_log_info("KAFKA", "embedded kafka broker at %s (kcat -L -b %s)", e->bootstrap,
	             e->bootstrap);
	return CPS_OK;
}
