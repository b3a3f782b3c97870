/*
 * A consumed Kafka message as a source message (connector.h: struct
 * cps_source_msg), the same for the streaming source (kafka.c) and the sweep
 * read (kafka_sweep.c): its entity from the "topic.<topic>.entity" setting,
 * its position and origin, its timestamp and its headers.
 */
#include "connectors/kafka/kafka_int.h"

#include <stdio.h>
#include <string.h>

const char *kafka_topic_entity(const struct cps_settings *settings, const char *topic)
{
	char key[CPS_STREAM_MAX + 16];
	const char *e;

	snprintf(key, sizeof(key), "topic.%s.entity", topic);
	e = cps_settings_get(settings, key);
	return e && *e ? e : NULL;
}

void kafka_msg_fill(struct cps_source_msg *m, const rd_kafka_message_t *rkm, const char *platform,
                    const char *entity)
{
	rd_kafka_timestamp_type_t tstype;

	memset(m, 0, sizeof(*m)); /* no effective time, not refused: the message says */
	m->entity = entity;
	m->key = rkm->key;
	m->key_len = rkm->key_len;
	m->value = rkm->payload;
	m->value_len = rkm->len;
	snprintf(m->pos.stream, sizeof(m->pos.stream), "%s", rd_kafka_topic_name(rkm->rkt));
	m->pos.partition = rkm->partition;
	m->pos.offset = rkm->offset;
	cps_position_format(platform, &m->pos, m->origin, sizeof(m->origin));
	m->source_ts_ms = rd_kafka_message_timestamp(rkm, &tstype);
	if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
		m->source_ts_ms = -1;
}

int kafka_msg_take_headers(const rd_kafka_message_t *rkm, struct cps_source_msg *m,
                           struct cps_header **hdrs, size_t *n_hdrs, size_t *cap_hdrs)
{
	rd_kafka_headers_t *h;
	const char *name;
	const void *value;
	size_t size;

	if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == 0; i++) {
		if (cps_grow(hdrs, cap_hdrs, *n_hdrs + 1, sizeof(**hdrs)) != 0)
			return -1;
		(*hdrs)[(*n_hdrs)++] = (struct cps_header){name, value, size};
		m->n_headers++;
	}
	return 0;
}
