/*
 * Private to the Kafka connector (kafka.c, kafka_msg.c, kafka_offsets.c, kafka_sweep.c): the source
 * instance, whose consumer an offsets reset uses, how a consumed message
 * becomes a source message (the source's and the sweep's), and the offsets
 * slots of the table, which kafka_offsets.c implements.
 */
#ifndef CPS_KAFKA_INT_H
#define CPS_KAFKA_INT_H

#include "connectors/connector.h"
#include "base/arena.h"

#include <librdkafka/rdkafka.h>

/* kafka.c: the source instance. kafka_offsets.c resets through the open
 * source's consumer (`rk`), a member of its group. */
struct kafka_topic {
	char *name;   /* in the source's `names` */
	char *entity; /* likewise; NULL when unmapped */
};

/* A message of the last batch, held until the next poll. */
struct held_msg {
	rd_kafka_message_t *rkm;
	size_t hdr_start; /* its first header in hdrs */
};

struct kafka_source {
	struct cps_conn base;
	rd_kafka_t *rk;
	struct kafka_topic *topics;
	size_t n_topics;
	struct cps_arena names; /* the topics' names and entities */
	/* the last batch: held[i] is the message msgs[i] was made of */
	struct held_msg *held;
	struct cps_source_msg *msgs;
	size_t n_held, cap;
	struct cps_header *hdrs;
	size_t n_hdrs, cap_hdrs;
	/* an error met after messages were collected, reported on the next poll */
	int pending_rc;
	char pending[256];
	struct cps_conn_status counts; /* received, committed, errors, last_* */
};

/* kafka_msg.c: a consumed message as the source and the sweep hand it out. */
/* The "topic.<topic>.entity" setting, or NULL when unset or empty. */
const char *kafka_topic_entity(const struct cps_settings *settings, const char *topic);
/* `m` made of `rkm`, its headers aside: the entity hint, key and value
 * (borrowed from rkm), the position and its origin under `platform`, the
 * message's timestamp (-1 when it has none). */
void kafka_msg_fill(struct cps_source_msg *m, const rd_kafka_message_t *rkm, const char *platform,
                    const char *entity);
/* Appends rkm's headers to *hdrs (*n_hdrs of *cap_hdrs, grown), counting them
 * in m->n_headers; the caller points m->headers at them once the array stops
 * moving. -1 when memory is out. */
int kafka_msg_take_headers(const rd_kafka_message_t *rkm, struct cps_source_msg *m,
                           struct cps_header **hdrs, size_t *n_hdrs, size_t *cap_hdrs);

/* kafka_offsets.c */
/* Every partition of the source's topics (the "topics" setting). */
int kafka_topic_partitions(rd_kafka_t *rk, const struct cps_settings *settings,
                           rd_kafka_topic_partition_list_t **out, char *errstr, size_t errstr_size);
int kafka_offsets_get(const char *platform, const struct cps_settings *settings,
                      struct cps_offsets *out, char *errstr, size_t errstr_size);
int kafka_offsets_reset(const char *platform, const struct cps_settings *settings,
                        struct cps_conn *open, const struct cps_offsets_reset *to,
                        struct cps_offsets *out, char *errstr, size_t errstr_size);

/* kafka_sweep.c: the sweep_read slot (the topics from their beginning up
 * to the high watermarks of the start, by a consumer of no group). */
int kafka_sweep_read(const char *platform, const struct cps_settings *settings, size_t chunk,
                     const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size);

#endif
