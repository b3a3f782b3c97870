/*
 * The sink runner: one thread per platform sink. It consumes the unified
 * topics of the entities the sink's allow-list names (consumer group
 * "cpsync-sink-<platform>"), drops echoes, applies the allow-list, encodes
 * each change for the target connector, puts, flushes and only then commits
 * the consumed offsets (at-least-once; targets are idempotent by key+version).
 */
#ifndef CPS_SINK_RUNNER_H
#define CPS_SINK_RUNNER_H

#include "base/pause.h"
#include "connectors/connector.h"
#include "connectors/sink.h"
#include "codec/record.h"
#include "codec/registry.h"
#include "codec/schema.h"
#include "observe/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum cps_sink_format cps_sink_format_for(const char *connector_type);

struct cps_sink_runner_conf {
	const char *platform;                /* "city": the sink's own platform */
	const struct cps_connector_ops *ops; /* the sink's connector */
	/* The platform's `sink` section flattened. The runner takes out its own
	 * keys — `allow.<entity>` (comma list of fields, required for each
	 * entity sent), `framing` (kafka), `flush_ms` (flush the sink and
	 * commit at most this often, default 0 = after every batch; a files
	 * sink rolls a file per flush) — and hands the rest to the connector; a Kafka sink without `brokers` gets cpsync's own. Copied. */
	const struct cps_settings *settings;
	const char *bootstrap;                  /* cpsync's Kafka */
	const struct cps_settings *kafka_props; /* "kafka.properties.*"; may be NULL */
	const char *topic_prefix;               /* NULL = "cpsync.unified." */
	struct cps_catalog *catalog;            /* borrowed */
	struct cps_registry *registry;          /* borrowed; may be NULL */
	/* cpsync's store, for the version guard (sink_versions: one read per
	 * poll, one write per flush) and the sink's dead letters (NULL: no
	 * guard, and a dead letter is an error). The no-echo rule needs no
	 * store: the unified event carries what it reads. */
	const char *store_conninfo;
	struct cps_status *status; /* may be NULL */
	struct cps_link *link;     /* may be NULL */
	bool start_paused;         /* start PAUSED (a pause kept in the store) */
	size_t batch_max;          /* 0 = 500 */
	int poll_ms;               /* 0 = 200 */
	/* A record the target refuses (CPS_ERR_INVALID from put or flush) is
	 * tried again this many times, alone, after an exponential backoff from
	 * retry_backoff_ms up to retry_backoff_max_ms with jitter, then goes to
	 * the dead-letter store (sinks.retry_*; 0 = 3, 200, 10000). */
	int retry_attempts;
	int retry_backoff_ms;
	int retry_backoff_max_ms;
};

struct cps_sink_stats {
	uint64_t consumed;     /* unified events read */
	uint64_t sent;         /* records flushed to the platform */
	uint64_t echoes;       /* dropped: the change came from this platform */
	uint64_t not_allowed;  /* dropped: a non-nullable field is outside the allow-list */
	uint64_t undecodable;  /* dropped: not a unified event of its topic's entity */
	uint64_t failures;     /* put/flush/commit failures (each followed by a reopen) */
	uint64_t refused;      /* dead-lettered: refused by the target, or not encodable */
	uint64_t retries;      /* attempts again of a record the target refused */
	uint64_t dead_letters; /* undecodable, unencodable or refused after the retries */
	uint64_t superseded;   /* dropped: this version of the key or a newer one was written */
};

struct cps_sink_runner;

/* Validates the settings, opens the sink and the consumer and starts the
 * thread. Errors name the platform's bad setting. */
int cps_sink_runner_start(const struct cps_sink_runner_conf *conf, struct cps_sink_runner **out,
                          char *errstr, size_t errstr_size);
/* Stops the thread (after its current batch), closes everything, frees. */
void cps_sink_runner_stop(struct cps_sink_runner *r);
/* Pause (base/pause.h): the runner flushes and commits what it put, closes the sink and
 * its consumer (leaving the group; the committed offsets stay) and shows
 * PAUSED until resume reopens both. Restart closes and reopens both sides
 * (uncommitted events come again). Any thread; they return at once. */
struct cps_pause *cps_sink_runner_pause(struct cps_sink_runner *r);
void cps_sink_runner_restart(struct cps_sink_runner *r);
/* The consumer group's committed offsets on the unified topics the sink
 * reads, with their log ends (the Kafka connector's offsets_get). Any
 * thread. */
int cps_sink_runner_offsets(struct cps_sink_runner *r, struct cps_offsets *out, char *errstr,
                            size_t errstr_size);
/* The sink's platform ("city"; its link is "<platform>-sink"). */
const char *cps_sink_runner_platform(const struct cps_sink_runner *r);
/* How many restarts the runner has done (a restart shows as this growing). */
int64_t cps_sink_runner_restarts(struct cps_sink_runner *r);
/* Re-delivers the unified event `raw` (a sink dead letter's bytes) of
 * `entity` to the sink, on the runner's thread (this call waits for it, at
 * most about 30 s before it is taken). CPS_OK: delivered, or nothing to
 * deliver (an echo, or the sink already wrote that version or a newer one);
 * CPS_ERR_INVALID: still refused or undecodable, `reason` says why;
 * CPS_ERR_RETRIABLE: not now (paused, failing, busy), errstr says why.
 * Any thread but the runner's. */
int cps_sink_runner_replay(struct cps_sink_runner *r, const char *entity, const uint8_t *raw,
                           size_t raw_len, char *reason, size_t reason_size, char *errstr,
                           size_t errstr_size);
/* A consistent copy of the counters; any thread. */
void cps_sink_runner_stats(struct cps_sink_runner *r, struct cps_sink_stats *out);

/* What a sink reads of a unified event: members of the typed value
 * cps_unified_decode_typed gives (they point into it and its bytes). */
struct cps_sink_event {
	const char *key; /* not NUL-terminated */
	size_t key_len;
	int64_t version;
	bool is_delete;
	const struct cps_rtype *record_type; /* the entity's record; NULL with record */
	struct cps_tval *record;             /* NULL: none (a delete) */
	const struct cps_tval *provenance;   /* array of cpsync.FieldProvenance */
	const struct cps_rtype *entry_type;  /* cpsync.FieldProvenance */
	const struct cps_rfield *entry_field, *entry_platform;
	const struct cps_tval *changed_fields;  /* array of strings */
	const struct cps_tval *prior_platforms; /* array of cpsync.Platform */
	const struct cps_rtype *platform_type;  /* cpsync.Platform */
};

/* One provenance entry: its field and its platform's symbol ("CITY"; NULL:
 * a value a steward entered). */
struct cps_sink_entry {
	const char *field; /* not NUL-terminated */
	size_t field_len;
	const char *platform;
};

/* Fills *out from `v`, a unified event of record type `type`; a member
 * missing or of another type is CPS_ERR_INVALID naming it. */
int cps_sink_event_read(const struct cps_rtype *type, struct cps_tval *v,
                        struct cps_sink_event *out, char *errstr, size_t errstr_size);
/* Provenance entry i of ev; false when it has no field name. */
bool cps_sink_event_entry(const struct cps_sink_event *ev, size_t i, struct cps_sink_entry *out);

/*
 * The no-echo rule, pure, from the unified event alone (no store query).
 * `platform` is the sink's platform ("city"). A provenance entry "comes
 * from P" when its platform is P: a value a steward took from P does, a
 * value a steward entered (platform null) never does.
 * - UPSERT with `changed_fields` (the event's: the fields this version
 *   changed, as the change log records them): an echo when every changed
 *   field that has a provenance entry comes from P and at least one does.
 *   A field changed to null has no entry and decides nothing.
 * - UPSERT with changed_fields empty (or none attributable): an echo when
 *   every provenance entry comes from P — P then already holds every
 *   value. This is also the rule for an event written before the field
 *   existed (it reads as []) and for a re-publish from the stored record.
 * - DELETE: the record goes only when every platform withdrew it; an echo
 *   when the event's `prior_platforms` (the platforms the previous
 *   version's provenance names) include P, i.e. P withdrew it itself;
 *   with prior_platforms empty (an event written before the field existed,
 *   or a re-publish from the stored record) the delete is sent.
 */
bool cps_sink_is_echo(const struct cps_sink_event *ev, const char *platform);

/* The allow-list `fields` (comma list) on a record for an Avro target, in
 * place: every other field of `type` set to null, or CPS_ERR_INVALID
 * (reason: the first such field's name) when it is not nullable. */
int cps_sink_allow_avro(const struct cps_rtype *type, struct cps_tval *record, const char *fields,
                        char *errstr, size_t errstr_size);
/* Whether the comma list `list` names `name`. */
bool cps_sink_allowed(const char *list, const char *name);

/* Appends the plain JSON text (see CPS_SINK_FORMAT_JSON above) of the
 * fields of typed `record` (of record type `type`) that the comma list
 * `allow` names: what cps_sink_plain_json gives for the record's Avro JSON
 * with the other fields removed. CPS_ERR_INVALID (the reason names the
 * field) for a value JSON cannot hold. */
int cps_sink_plain_text(const struct cps_rtype *type, const struct cps_tval *record,
                        const char *allow, struct cps_buf *out, char *errstr, size_t errstr_size);

/* The plain JSON of an Avro JSON `value` of type `type` (schema JSON), see
 * CPS_SINK_FORMAT_JSON above, for what holds Avro JSON (the demo's city
 * rows). `root` resolves named types. New reference. */
json_t *cps_sink_plain_json(json_t *root, json_t *type, json_t *value, char *errstr,
                            size_t errstr_size);

#endif
