/*
 * A sink runner's configuration: the record format a connector type gets,
 * and the platform's `sink` settings split into the runner's own keys
 * (allow-lists, framing, flush_ms), the connector's, and the settings of the
 * consumer of the unified topics.
 */
#include "sink/sink_runner_int.h"
#include "kafka/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PREFIX  "cpsync.unified."
#define DEFAULT_FRAMING "single-object"

enum cps_sink_format cps_sink_format_for(const char *connector_type)
{
	if (connector_type && !strcmp(connector_type, "kafka"))
		return CPS_SINK_FORMAT_FRAMED;
	if (connector_type && !strcmp(connector_type, "files"))
		return CPS_SINK_FORMAT_RAW;
	return CPS_SINK_FORMAT_JSON;
}

int cps_sink_split_settings(struct cps_sink_runner *r, const struct cps_sink_runner_conf *conf,
                            char *errstr, size_t errstr_size)
{
	const char *prefix = conf->topic_prefix ? conf->topic_prefix : DEFAULT_PREFIX;
	const char *framing = DEFAULT_FRAMING;
	struct cps_buf topics;
	char key[CPS_STREAM_MAX + 32], topic[CPS_STREAM_MAX];
	size_t n_allowed = 0;
	int rc = 0;

	for (size_t i = 0; conf->settings && i < conf->settings->n; i++) {
		const struct cps_setting *kv = &conf->settings->items[i];

		if (!strncmp(kv->key, "allow.", 6)) {
			int ei = cps_entity_index(kv->key + 6);

			if (ei < 0)
				return cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
				    "sink '%s': '%s' names no entity (person, household, enrolment, verification, alert)",
				    conf->platform, kv->key);
			free(r->allow[ei]);
			r->allow[ei] = strdup(kv->value);
			if (!r->allow[ei])
				goto out_oom;
			n_allowed++;
		} else if (!strcmp(kv->key, "framing")) {
			framing = kv->value;
		} else if (!strcmp(kv->key, "flush_ms")) {
			char *end;
			long ms = strtol(kv->value, &end, 10);

			if (*end || ms < 0 || ms > 3600000)
				return cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
				    "sink '%s': flush_ms must be 0..3600000 milliseconds",
				    conf->platform);
			r->flush_ms = (int)ms;
		} else if (cps_settings_set(&r->sink_settings, kv->key, kv->value) < 0) {
			goto out_oom;
		}
	}
	if (n_allowed == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "sink '%s': no allow.<entity> list: it would send nothing",
		                  conf->platform);
	if (cps_framing_from_name(framing, &r->framing) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "sink '%s': framing '%s' is not raw, confluent or single-object",
		                  conf->platform, framing);
	/* a Kafka sink without brokers writes to cpsync's own Kafka */
	if (r->format == CPS_SINK_FORMAT_FRAMED &&
	    !cps_settings_get(&r->sink_settings, "brokers")) {
		rc = cps_settings_set(&r->sink_settings, "brokers", conf->bootstrap);
		if (rc == 0 && conf->kafka_props)
			rc = cps_kafka_settings_for(CPS_KAFKA_PRODUCER, conf->kafka_props,
			                            &r->sink_settings);
		if (rc < 0)
			goto out_oom;
	}
	/* the consumer of the unified topics */
	cps_buf_init(&topics, 0);
	for (int i = 0; i < CPS_N_ENTITIES && rc == 0; i++) {
		if (!r->allow[i])
			continue;
		snprintf(topic, sizeof(topic), "%s%s", prefix, cps_entities[i]);
		snprintf(key, sizeof(key), "topic.%s.entity", topic);
		rc = cps_buf_printf(&topics, "%s%s", topics.len ? "," : "", topic);
		if (rc == 0)
			rc = cps_settings_set(&r->source_settings, key, cps_entities[i]);
	}
	snprintf(key, sizeof(key), "cpsync-sink-%s", conf->platform);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "topics", (const char *)topics.data);
	cps_buf_release(&topics);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "group_id", key);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "brokers", conf->bootstrap);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "auto.offset.reset", "earliest");
	if (rc == 0 && conf->kafka_props)
		rc = cps_kafka_settings_for(CPS_KAFKA_CONSUMER, conf->kafka_props,
		                            &r->source_settings);
	if (rc < 0)
		goto out_oom;
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}
