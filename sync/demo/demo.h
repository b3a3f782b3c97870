/*
 * The demo data generator: realistic, deterministic (from a seed) records of
 * the three platforms — persons, households, enrolments, verifications and
 * alerts, with genuine disagreements between the city and the province —
 * delivered as the platforms would: an initial load, then a steady trickle
 * of changes until stopped. Each platform on its transport: the province
 * (and, without a database or an inbox, the others) produces to Kafka
 * topics (demo_kafka.c), the city writes SQL rows into its database
 * (demo_city.c), the Shenshan zone drops Avro container files into its inbox
 * (demo_shenshan.c). demo.c runs it all; the generator itself is
 * demo_population.c, demo_records.c and demo_changes.c (private: demo_int.h).
 */
#ifndef CPS_DEMO_H
#define CPS_DEMO_H

#include "codec/schema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cps_demo_platform {
	CPS_DEMO_PROVINCE,
	CPS_DEMO_CITY,
	CPS_DEMO_SHENSHAN,
	CPS_DEMO_PLATFORMS,
};

enum cps_demo_entity {
	CPS_DEMO_PERSON,
	CPS_DEMO_HOUSEHOLD,
	CPS_DEMO_ENROLMENT,
	CPS_DEMO_VERIFICATION,
	CPS_DEMO_ALERT,
	CPS_DEMO_ENTITIES,
};

/* "province", "city", "shenshan" / "person", "household", … */
extern const char *const cps_demo_platform_names[CPS_DEMO_PLATFORMS];
extern const char *const cps_demo_entity_names[CPS_DEMO_ENTITIES];

#define CPS_DEMO_DEFAULT_PEOPLE  3000
#define CPS_DEMO_DEFAULT_TRICKLE 20
/* The Shenzhen dibao standard (2021), in fen: 1365.00 yuan a month. */
#define CPS_DEMO_DIBAO_STANDARD_FEN 136500
/* The trickle never produces more than this many bytes (values and keys,
 * all topics together) per minute: below the embedded broker's ~5 MiB kept
 * per partition, whatever the partitioning. */
#define CPS_DEMO_TRICKLE_BYTES_PER_MIN ((size_t)4 << 20)

struct cps_demo_conf {
	const char *bootstrap;       /* Kafka bootstrap, e.g. cps_broker_bootstrap() */
	struct cps_catalog *catalog; /* borrowed, must outlive the demo */
	size_t people;               /* persons of the initial load; 0 = 3000 */
	unsigned trickle_per_s;      /* changes a second after the load; 0 = 20 */
	bool no_trickle;             /* stop producing after the initial load */
	uint64_t seed;               /* same seed, same data */
	/* topics[platform][entity]; NULL = "<platform>.<entity>", e.g.
	 * "province.person". Only the kinds a platform publishes are used:
	 * province person/household/enrolment/alert, city
	 * person/household/enrolment/verification, shenshan
	 * person/household/enrolment. */
	const char *topics[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES];
	/* framing name per platform ("raw", "confluent", "single-object");
	 * NULL = single-object for province and shenshan, confluent with the
	 * catalog's registry-free ids (schemas/schema-ids.json) for city. */
	const char *framing[CPS_DEMO_PLATFORMS];
	/* The city's database (libpq conninfo): non-NULL = the city's messages
	 * become rows of its tables (cps_demo_city_setup must have run), not
	 * Kafka messages. */
	const char *city_conninfo;
	/* The Shenshan inbox directory: non-NULL = the zone's messages become
	 * Avro container files there (a file per entity at the end of the
	 * initial load, then every shenshan_flush_ms), not Kafka messages. */
	const char *shenshan_inbox;
	int shenshan_flush_ms; /* 0 = 2000 */
	/* A pause after the initial load's registers were delivered, before its
	 * enrolments: time for the store to have an enrolment's subject and
	 * household when the policy checks it (0 = none; `cpsync demo`: 5000). */
	unsigned settle_ms;
};

/* ---- the generator alone (no Kafka): what the demo produces ------------- */

/* One platform message. Everything is borrowed for the callback only. */
struct cps_demo_msg {
	enum cps_demo_platform platform;
	enum cps_demo_entity entity;
	const char *key;      /* the entity key, also the Kafka key */
	int64_t effective_ms; /* business time: the "effective_time" header */
	json_t *record;       /* the entity record as Avro JSON; NULL = delete (tombstone) */
};

/* Returns 0 to go on, non-zero to stop the generation (returned as is). */
typedef int (*cps_demo_emit_fn)(void *arg, const struct cps_demo_msg *msg);

struct cps_demo_gen;

/* Builds the population of conf->people persons from conf->seed (only
 * `people` and `seed` of conf are used). */
int cps_demo_gen_new(const struct cps_demo_conf *conf, struct cps_demo_gen **out, char *errstr,
                     size_t errstr_size);
void cps_demo_gen_free(struct cps_demo_gen *g);
/* Emits every message of the initial load, in a deterministic order: the
 * two parts below, one after the other. */
int cps_demo_gen_initial(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg);
/* The initial load's registers (persons, verifications, households), then
 * the enrolments and alerts that refer to them. */
int cps_demo_gen_initial_registers(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg);
int cps_demo_gen_initial_enrolments(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg);
/* Emits the messages of one change (a move, an income change, a status
 * change, a new or handled alert, a delete…) effective at `now_ms` (kept
 * increasing: an earlier value is raised past the last change). */
int cps_demo_gen_change(struct cps_demo_gen *g, int64_t now_ms, cps_demo_emit_fn emit, void *arg);

/* ---- the running demo ---------------------------------------------------- */

struct cps_demo;

struct cps_demo_stats {
	/* Kafka: accepted by the producer / acknowledged by the broker; city:
	 * executed / committed; Shenshan: encoded / in a published file. */
	uint64_t produced[CPS_DEMO_PLATFORMS];
	uint64_t delivered[CPS_DEMO_PLATFORMS];
	uint64_t failed[CPS_DEMO_PLATFORMS]; /* delivery failed */
	uint64_t bytes;                      /* keys and values produced */
	uint64_t changes;                    /* trickle changes generated */
	bool loaded;                         /* the initial load is acknowledged */
	char last_error[256];                /* "" when none; never personal data */
};

/* Builds the population and an idempotent producer (acks=all), then starts
 * the producing thread: the initial load, then the trickle until stopped.
 * `conf` is copied (the catalog stays borrowed). */
int cps_demo_start(const struct cps_demo_conf *conf, struct cps_demo **out, char *errstr,
                   size_t errstr_size);
/* Waits up to timeout_ms until the initial load is acknowledged: CPS_OK, or
 * CPS_ERR_RETRIABLE on timeout, or CPS_ERR_FATAL if the thread failed. */
int cps_demo_wait_loaded(struct cps_demo *d, int timeout_ms, char *errstr, size_t errstr_size);
/* Thread-safe snapshot. */
void cps_demo_get_stats(struct cps_demo *d, struct cps_demo_stats *out);
/* Stops the thread, flushes what was produced (up to 10 s), frees; NULL-safe. */
void cps_demo_stop(struct cps_demo *d);

/* ---- the platforms on Kafka (demo_kafka.c) --------------------------------- */

struct cps_demo_kafka;

/* A delivery report of a message of `platform`: `error` is NULL when the
 * broker acknowledged it, else why it failed (the topic named, no values).
 * @locality a librdkafka thread, inside cps_demo_kafka_poll/flush* */
typedef void (*cps_demo_delivered_fn)(void *arg, enum cps_demo_platform platform,
                                      const char *error);

/* Checks conf's framings and topics, and makes a codec per entity from
 * conf->catalog (borrowed); no producer yet. */
int cps_demo_kafka_open(const struct cps_demo_conf *conf, cps_demo_delivered_fn delivered,
                        void *arg, struct cps_demo_kafka **out, char *errstr, size_t errstr_size);
/* Creates the idempotent producer (acks=all) for conf->bootstrap. */
int cps_demo_kafka_start(struct cps_demo_kafka *k, char *errstr, size_t errstr_size);
/* Encodes and produces one message to its platform's entity topic: CPS_OK
 * (*bytes = key and value), 1 when `stopping(arg)` said so while the queue
 * was full, or CPS_ERR_FATAL (errstr says why, without values). */
int cps_demo_kafka_produce(struct cps_demo_kafka *k, const struct cps_demo_msg *m,
                           bool (*stopping)(void *arg), void *arg, size_t *bytes, char *errstr,
                           size_t errstr_size);
/* Serves delivery reports, without waiting. */
void cps_demo_kafka_poll(struct cps_demo_kafka *k);
/* Waits until every message is acknowledged (true) or `stopping(arg)`. */
bool cps_demo_kafka_flush_all(struct cps_demo_kafka *k, bool (*stopping)(void *arg), void *arg);
/* Waits up to timeout_ms for every message to be acknowledged: CPS_OK, or
 * CPS_ERR_RETRIABLE with *unacked the messages still queued. */
int cps_demo_kafka_flush(struct cps_demo_kafka *k, int timeout_ms, int *unacked);
/* Destroys the producer (what is queued is dropped) and frees; NULL-safe. */
void cps_demo_kafka_close(struct cps_demo_kafka *k);

/* ---- the city as a database (demo_city.c) --------------------------------- */

/* The city's DDL: schema "city" (person, household, enrolment, verification:
 * a column per schema field, the key field the primary key; decimals
 * numeric(12,2), dates date, timestamps timestamptz, arrays jsonb) and
 * schema "inbound" (person, household, enrolment, alert: cpsync_key,
 * cpsync_version, the fields, received_at) that cpsync's postgres sink
 * writes. Idempotent (IF NOT EXISTS). */
extern const char cps_demo_city_sql[];

/* Runs cps_demo_city_sql in the database of `conninfo`. */
int cps_demo_city_setup(const char *conninfo, char *errstr, size_t errstr_size);

struct cps_demo_city;

/* Connects and prepares the statements; `catalog` gives the field lists. */
int cps_demo_city_open(const char *conninfo, struct cps_catalog *catalog,
                       struct cps_demo_city **out, char *errstr, size_t errstr_size);
/* One city message as SQL in the open transaction (begun on demand): an
 * upsert of the row (left alone when equal) or, for a delete, a DELETE.
 * A failed statement rolls the transaction back. Errors carry no values. */
int cps_demo_city_put(struct cps_demo_city *c, const struct cps_demo_msg *m, char *errstr,
                      size_t errstr_size);
/* Commits the open transaction, if any. */
int cps_demo_city_commit(struct cps_demo_city *c, char *errstr, size_t errstr_size);
/* Rolls back what is not committed; NULL-safe. */
void cps_demo_city_close(struct cps_demo_city *c);

/* ---- the Shenshan zone as files (demo_shenshan.c) -------------------------- */

struct cps_demo_shenshan;

/* `inbox` must exist and be writable. */
int cps_demo_shenshan_open(const char *inbox, struct cps_catalog *catalog,
                           struct cps_demo_shenshan **out, char *errstr, size_t errstr_size);
/* Adds the record to its entity's pending file (a delete is skipped: the
 * zone's files carry no deletes). */
int cps_demo_shenshan_put(struct cps_demo_shenshan *s, const struct cps_demo_msg *m, char *errstr,
                          size_t errstr_size);
/* Publishes every pending file: "<inbox>/.NAME.tmp", fsync, rename to
 * "<inbox>/shenshan-<entity>-<UTC time>-<seq>.avro", fsync the directory. */
int cps_demo_shenshan_flush(struct cps_demo_shenshan *s, char *errstr, size_t errstr_size);
/* Records waiting for the next flush. */
size_t cps_demo_shenshan_pending(const struct cps_demo_shenshan *s);
void cps_demo_shenshan_close(struct cps_demo_shenshan *s);

/* ---- name and address tables (demo_names.c) ------------------------------ */

extern const char *const cps_demo_surnames[];
extern const size_t cps_demo_n_surnames;
extern const char *const cps_demo_given_male[];
extern const size_t cps_demo_n_given_male;
extern const char *const cps_demo_given_female[];
extern const size_t cps_demo_n_given_female;
extern const char *const cps_demo_communities[];
extern const size_t cps_demo_n_communities;

struct cps_demo_district {
	const char *code;           /* "440305" */
	const char *name;           /* "南山区" */
	const char *const *streets; /* 街道 without the suffix, NULL-terminated */
};
/* Shenzhen's districts 440303–440311, then Shenshan 441521 (the last). */
extern const struct cps_demo_district cps_demo_districts[];
extern const size_t cps_demo_n_districts;

#endif
