/*
 * The declared configuration keys of cpsync: name, type, default, range,
 * allowed values and documentation, in the order of docs/CONFIG.md (which
 * `cpsync config-doc` generates from this table). Connectors declare the
 * keys of their own platforms.*.source/sink sections in their own tables.
 */
#include "config/config.h"

#define MIB(n) ((long long)(n) << 20)

const struct cps_config_key cps_config_keys[] = {
    {"instance", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_DEF_HOSTNAME,
     "The name of this cpsync instance in logs, metrics and the store (who holds a source, "
     "who resolved a conflict). Must differ between instances sharing a store."},

    {"log.level", CPS_CFG_ENUM, "info", 0, 0, "error|warn|info|debug", 0,
     "The least severe level written. `debug` with an empty `log.debug` enables every debug "
     "context."},
    {"log.format", CPS_CFG_ENUM, "text", 0, 0, "text|json", 0,
     "`text`: `2026-11-28T20:16:52.123Z info  STORE message`; `json`: one object per line "
     "with `ts`, `level`, `facility`, `msg`."},
    {"log.debug", CPS_CFG_LIST, "", 0, 0, "connector|reconcile|store|http|kafka|codec|all", 0,
     "Debug contexts to write whatever `log.level` is."},

    {"schemas.dir", CPS_CFG_STRING, "schemas", 0, 0, NULL, CPS_CFG_PATH,
     "The directory of the Avro schemas (`*.avsc`)."},
    {"schemas.registry.url", CPS_CFG_STRING, "", 0, 0, NULL, 0,
     "Base URL of a Confluent-compatible schema registry. Empty: registry-free (Avro "
     "single-object encoding with schema fingerprints)."},
    {"schemas.registry.timeout_ms", CPS_CFG_DURATION_MS, "5s", 100, 600000, NULL, 0,
     "Timeout of one registry request."},
    {"schemas.registry.username", CPS_CFG_STRING, "", 0, 0, NULL, 0,
     "HTTP basic-auth user for the registry (empty: none)."},
    {"schemas.registry.password", CPS_CFG_STRING, "", 0, 0, NULL, CPS_CFG_SECRET,
     "HTTP basic-auth password for the registry; use `${ENV_VAR}`."},
    {"schemas.registry.ca_file", CPS_CFG_STRING, "", 0, 0, NULL, CPS_CFG_PATH,
     "PEM file of the CA that signs the registry's certificate (empty: the system's)."},
    {"schemas.registry.auto_register", CPS_CFG_BOOL, "true", 0, 0, NULL, 0,
     "Register cpsync's unified-event schemas in the registry (register-or-lookup). `false`: "
     "only look their ids up (`POST /subjects/{subject}`); a schema not registered stops the "
     "reconcile link. Either way, at start-up each schema is checked with the registry's "
     "compatibility endpoint and an incompatible one stops the link (FAILED in `/status`)."},

    {"codec.max_message_bytes", CPS_CFG_INT, "4194304", 64, MIB(256), NULL, 0,
     "Largest encoded message accepted from any platform; larger ones go to the dead-letter "
     "store."},
    {"codec.max_items", CPS_CFG_INT, "1000000", 1, 100000000, NULL, 0,
     "Most array and map items in one message, summed over all levels."},
    {"codec.max_depth", CPS_CFG_INT, "64", 1, 1024, NULL, 0,
     "Deepest nesting of records, arrays, maps and unions in one message."},

    {"kafka.brokers", CPS_CFG_STRING, "embedded", 0, 0, NULL, 0,
     "`embedded` (an in-process broker, librdkafka's mock cluster, for demos and tests) or a "
     "comma-separated `host:port` list."},
    {"kafka.embedded.partitions", CPS_CFG_INT, "8", 1, 256, NULL, 0,
     "Partitions of every topic of the embedded broker."},
    {"kafka.ingest_topic", CPS_CFG_STRING, "cpsync.ingest", 0, 0, NULL, 0,
     "Topic where sources put every valid change, keyed by entity key."},
    {"kafka.unified_topic_prefix", CPS_CFG_STRING, "cpsync.unified.", 0, 0, NULL, 0,
     "Prefix of the unified topics: one per entity (`cpsync.unified.person`, ...)."},
    {"kafka.dead_letter_topic", CPS_CFG_STRING, "cpsync.deadletter", 0, 0, NULL, 0,
     "Topic that mirrors dead letters for other tools: headers with the reason, platform, entity and origin (the key of the row in `cpsync.dead_letters`), and no payload unless `kafka.dead_letter_raw`."},
    {"kafka.dead_letter_raw", CPS_CFG_BOOL, "false", 0, 0, NULL, 0,
     "Put the raw key and bytes of each dead letter on `kafka.dead_letter_topic` too. Off by default: they may hold personal data, and the topic is outside cpsync's roles; the store keeps them for operators (`store.dead_letter_raw_retention`)."},
    {"kafka.group_id", CPS_CFG_STRING, "cpsync-reconcile", 0, 0, NULL, 0,
     "Consumer group of the reconcile workers of all instances."},
    {"kafka.topics.partitions", CPS_CFG_INT, "8", -1, 100000, NULL, 0,
     "On a real cluster, partitions of cpsync's own topics (ingest, dead-letter, unified) "
     "that cpsync creates at start when they are missing; -1: the broker's default. "
     "Existing topics are left as they are."},
    {"kafka.topics.replication_factor", CPS_CFG_INT, "-1", -1, 32, NULL, 0,
     "Replication factor of the topics cpsync creates; -1: the broker's "
     "`default.replication.factor`."},
    {"kafka.unified_topic_config.*", CPS_CFG_STRING, NULL, 0, 0, NULL, 0,
     "Topic configuration of the unified topics when cpsync creates them, e.g. "
     "`cleanup.policy: compact` (a new consumer still gets the latest version of every key; "
     "older versions go) or `min.insync.replicas: 2`."},
    {"kafka.properties.*", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_SECRET_NAMED,
     "librdkafka properties passed through unchanged (`security.protocol`, `sasl.*`, "
     "`ssl.*`, `acks`, `compression.type`, `linger.ms`, ...)."},
    {"kafka.producer.*", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_SECRET_NAMED,
     "librdkafka properties for cpsync's producers only (`linger.ms`, `compression.type`, "
     "...); they override `kafka.properties`. cpsync's producers default to `linger.ms` 1 "
     "(librdkafka: 5), for latency, and to `queue.buffering.max.messages` 10000 and "
     "`queue.buffering.max.kbytes` 16384 (librdkafka: 100000, 1 GiB): one process holds many "
     "producers, and a full queue only makes a produce wait for deliveries. Any setting here "
     "or in `kafka.properties` wins."},
    {"kafka.consumer.*", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_SECRET_NAMED,
     "librdkafka properties for cpsync's consumers only (`session.timeout.ms`, "
     "`heartbeat.interval.ms`, ...); they override `kafka.properties`. cpsync's consumers "
     "(workers, sinks, Kafka sources) default to `fetch.wait.max.ms` 10 (librdkafka: 500) and "
     "`fetch.min.bytes` 1: the embedded broker holds an empty fetch for the whole wait, so "
     "that wait is each hop's idle latency; a real broker answers as soon as data comes, "
     "and raising it there only saves idle fetch requests. They prefetch at most "
     "`queued.min.messages` 10000 and `queued.max.messages.kbytes` 8192 (librdkafka: 100000, "
     "64 MiB): one process holds many consumers; this drains ~12000 records of 1 KiB a second "
     "each. With `kafka.brokers: embedded` "
     "they also default to `session.timeout.ms` 6000 and `heartbeat.interval.ms` 1000 (its "
     "coordinator waits a session timeout for a late group member). Any setting here wins."},

    {"store.conninfo", CPS_CFG_STRING, "", 0, 0, NULL, CPS_CFG_SECRET,
     "libpq connection string of the store (keyword/value or URI). Logged only with the "
     "password masked. Empty: libpq's environment (`PGHOST`, ...)."},
    {"store.batch_size", CPS_CFG_INT, "1000", 1, 100000, NULL, 0,
     "Most events written in one store transaction."},
    {"store.batch_ms", CPS_CFG_DURATION_MS, "10", 1, 60000, NULL, 0,
     "Longest wait to fill a batch, counted from its FIRST event: a batch closes at "
     "`store.batch_size` events or this long after its first event, whichever comes first. "
     "An idle worker waits for no timer (the first event starts the batch at once); at low "
     "rates this bounds the reconcile hop's latency, at high rates batches grow to "
     "`store.batch_size`."},
    {"store.history_retention", CPS_CFG_DURATION_MS, "720h", 0, 87600LL * 3600000, NULL, 0,
     "How long the change log (`cpsync.changes`, read as `cpsync.record_history`) keeps a "
     "version after it was published; older ones are deleted by the publishing instance, "
     "once a minute. `0`: keep every version."},
    {"store.dead_letter_raw_retention", CPS_CFG_DURATION_MS, "168h", 0, 87600LL * 3600000, NULL, 0,
     "How long a dead letter keeps its raw bytes and key (personal data), whatever its status; then the publishing instance drops them, once a minute (the row, its reason and origin stay; a replay then says the bytes are gone). `0`: keep them."},
    {"store.dead_letter_retention", CPS_CFG_DURATION_MS, "720h", 0, 87600LL * 3600000, NULL, 0,
     "How long a dead letter that was replayed or discarded is kept after that; `new` ones stay until dealt with. `0`: keep them."},
    {"store.conflict_retention", CPS_CFG_DURATION_MS, "2160h", 0, 87600LL * 3600000, NULL, 0,
     "How long a closed conflict (resolved, dismissed, auto-closed) is kept after it closed. Its decision stays in the audit trail and the field's provenance. `0`: keep them."},
    {"store.audit_value_retention", CPS_CFG_DURATION_MS, "8760h", 0, 87600LL * 3600000, NULL, 0,
     "How long an audit entry keeps its before/after values; then they are dropped and the entry (who, what, when, why) stays for ever. `0`: keep them."},
    {"store.leader_retry_ms", CPS_CFG_DURATION_MS, "2000", 100, 600000, NULL, 0,
     "How often a STANDBY single-reader source (postgres, files) asks for its advisory "
     "lock `cpsync.source.<platform>` in the store, to take over from an instance that "
     "died."},

    {"http.listen", CPS_CFG_STRING, "127.0.0.1:8080", 0, 0, NULL, 0,
     "Address and port of the HTTP server (health, status, metrics, steward API, "
     "dashboard). Loopback by default."},
    {"http.max_body_bytes", CPS_CFG_INT, "1048576", 1024, MIB(64), NULL, 0,
     "Largest request body; larger ones get 413."},
    {"http.timeout_s", CPS_CFG_INT, "30", 1, 3600, NULL, 0, "Idle connection timeout in seconds."},
    {"http.request_deadline_s", CPS_CFG_INT, "10", 1, 3600, NULL, 0,
     "Seconds a connection has to deliver a whole request (headers and body), counted from "
     "accept or from the answer to its previous request; past it the connection is closed, "
     "however slowly it keeps sending."},
    {"http.max_connections", CPS_CFG_INT, "64", 1, 10000, NULL, 0,
     "Most simultaneous HTTP connections."},
    {"http.max_connections_per_ip", CPS_CFG_INT, "8", 1, 10000, NULL, 0,
     "Most simultaneous HTTP connections from one client address; more are refused."},
    {"http.api_workers", CPS_CFG_INT, "4", 1, 64, NULL, 0,
     "Threads that run API handlers. `/healthz` is answered by the I/O thread, `/readyz` and "
     "`/metrics` by a thread of their own: they answer while every API worker is blocked."},
    {"http.tokens.*.token", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_SECRET,
     "Bearer token of the holder named by the key (at least 16 characters; use "
     "`${ENV_VAR}`). No tokens: only `http.open_routes` answer, everything else 401."},
    {"http.tokens.*.token_sha256", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_SECRET,
     "Instead of `token`: the token's SHA-256 as 64 hex digits (`printf %s TOKEN | sha256sum`), "
     "so a leaked config file does not leak the token. Exactly one of `token` and "
     "`token_sha256`."},
    {"http.tokens.*.role", CPS_CFG_ENUM, "viewer", 0, 0, "viewer|steward|operator", 0,
     "Role of the token: `viewer` (status, records reduced to the schemas' `cpsync.viewer` fields), `steward` (conflicts, records "
     "unmasked, audit), `operator` (connectors, dead letters, records and audit masked as for a "
     "viewer; raw dead-letter bytes only through the audited `GET /api/v1/deadletters/{id}/raw`)."},
    {"http.tokens.*.regions", CPS_CFG_LIST, "", 0, 0, NULL, 0,
     "Region-code prefixes (1 to 6 digits, e.g. `[440305, 441521]`) a steward or viewer token "
     "is confined to: it finds only records, conflicts and audit entries whose record has a "
     "region field (`\"cpsync.region\": true` in its schema) starting with one of them, and "
     "no dead letters. Empty: every region. Operators are never confined (refused)."},
    {"http.open_routes", CPS_CFG_LIST, "/healthz,/readyz,/metrics", 0, 0, NULL, 0,
     "Route patterns served without a token."},
    {"http.tls_cert_file", CPS_CFG_STRING, "", 0, 0, NULL, CPS_CFG_PATH,
     "PEM certificate (chain) of the HTTP server; HTTPS when it and `http.tls_key_file` are "
     "set."},
    {"http.tls_key_file", CPS_CFG_STRING, "", 0, 0, NULL, CPS_CFG_PATH,
     "PEM private key of `http.tls_cert_file`."},

    {"reconcile.workers", CPS_CFG_INT, "2", 1, 64, NULL, 0,
     "Reconcile worker threads of this instance (each a member of `kafka.group_id`)."},
    {"reconcile.state_cache_mb", CPS_CFG_INT, "0", 0, 65536, NULL, 0,
     "Memory for the key states the reconcile workers keep between batches (split among "
     "them; a typed state counts as its arena, about 6.4 KiB for a person; a JSON state, of "
     "a row an older cpsync wrote, as 7 times its stored size); `0`, the default, keeps none "
     "and loads every batch's states from the store. A cached state is used only while the "
     "transaction that wrote it is still its row's last writer (the store says so without "
     "sending the state). It pays only where keys come back within the states it holds: "
     "with 5,000 keys changing 64 MiB held all of them, 86% of lookups hit and cpsync took "
     "72 instead of 85 CPU-s per million events; with 50,000 keys changing in turn 32 MiB "
     "never hit, saved nothing and cost 41 MiB. Whether it pays shows in `/status` (the "
     "reconcile link's `state_cache`) and `/metrics` "
     "(`cpsync_state_cache_lookups_total{result=\"hit|stale|miss\"}`)."},

    {"sinks.retry_attempts", CPS_CFG_INT, "3", 1, 100, NULL, 0,
     "How many more times a sink tries a record its platform refuses (a constraint violation, "
     "a record the files sink cannot encode, a permanent Kafka produce error), alone, before "
     "it puts it in the dead-letter store (`kind` sink, replayable) and goes on with the next. "
     "A platform that cannot be reached is no refusal: the sink keeps retrying and shows "
     "DEGRADED."},
    {"sinks.retry_backoff_ms", CPS_CFG_DURATION_MS, "200", 1, 600000, NULL, 0,
     "The wait before the first retry of a refused record; it doubles with each retry, up "
     "to `sinks.retry_backoff_max_ms`, and a random half of it is jitter."},
    {"sinks.retry_backoff_max_ms", CPS_CFG_DURATION_MS, "10s", 1, 3600000, NULL, 0,
     "The longest wait between two tries of a refused record."},

    {"platforms.*.connector", CPS_CFG_ENUM, NULL, 0, 0, "kafka|postgres|files|demo",
     CPS_CFG_REQUIRED, "The connector type that talks to this platform."},
    {"platforms.*.enabled", CPS_CFG_BOOL, "true", 0, 0, NULL, 0,
     "A disabled platform is neither read nor written."},
    {"platforms.*.freshness_target_s", CPS_CFG_INT, "300", 1, 86400 * 7, NULL, 0,
     "Seconds within which this platform's changes should reach the unified records; the "
     "status page and metrics report lag against it."},
    {"platforms.*.source", CPS_CFG_MAP, NULL, 0, 0, NULL, 0,
     "Settings of the connector's source side (validated by the connector)."},
    {"platforms.*.sink", CPS_CFG_MAP, NULL, 0, 0, NULL, 0,
     "Settings of the connector's sink side (validated by the connector)."},

    {"rules.*.version", CPS_CFG_INT, "1", 1, 1000000, NULL, 0,
     "Version of this entity's rules where no store numbers them (reconciliation case "
     "files); a running cpsync records the number of the stored rule set "
     "(`cpsync.rule_sets`) in each field's provenance instead."},
    {"rules.*.default.rule", CPS_CFG_ENUM, "latest", 0, 0, "precedence|latest|manual", 0,
     "Survivorship of fields without their own entry: `precedence` (the first of "
     "`platforms` with a value wins), `latest` (the newest effective time wins), `manual` "
     "(any disagreement opens a conflict)."},
    {"rules.*.default.platforms", CPS_CFG_LIST, "", 0, 0, NULL, 0,
     "Platform names, most authoritative first (needed by `precedence`)."},
    {"rules.*.default.on_disagree", CPS_CFG_ENUM, "accept", 0, 0, "accept|flag|conflict", 0,
     "When other platforms disagree with the winner: `accept` silently, `flag` it, or open "
     "a `conflict`."},
    {"rules.*.fields.*.rule", CPS_CFG_ENUM, NULL, 0, 0, "precedence|latest|manual", 0,
     "The rule of one field (Avro field name); unset parts come from `default`."},
    {"rules.*.fields.*.platforms", CPS_CFG_LIST, NULL, 0, 0, NULL, 0,
     "Platform names for this field, most authoritative first."},
    {"rules.*.fields.*.on_disagree", CPS_CFG_ENUM, NULL, 0, 0, "accept|flag|conflict", 0,
     "Disagreement handling for this field."},
    {"sweeps.schedule", CPS_CFG_DURATION_MS, "0", 0, 2592000000LL, NULL, 0,
     "How often a three-way sweep compares each platform's full data with the store "
     "(`6h`, `24h`); `0`: only when asked (`cpsync sweep run`, `POST /api/v1/sweeps`). One "
     "sweep runs at a time per store."},
    {"sweeps.chunk_rows", CPS_CFG_INT, "1000", 1, 100000, NULL, 0,
     "Records a sweep reads from a platform and compares with the store at a time: what "
     "it holds in memory."},
    {"policy.standards.*.regions", CPS_CFG_LIST, NULL, 0, 0, NULL, 0,
     "Region-code prefixes this standard applies to (`4403`: Shenzhen; `441521`: Shenshan); the "
     "longest matching prefix wins."},
    {"policy.standards.*.from", CPS_CFG_STRING, NULL, 0, 0, NULL, 0,
     "The date (YYYY-MM-DD) from which the standard is in force; the latest one not after a "
     "day applies on that day."},
    {"policy.standards.*.dibao_monthly", CPS_CFG_STRING, NULL, 0, 0, NULL, 0,
     "最低生活保障标准: the monthly 低保 standard per person, in yuan (`\"1365.00\"`)."},
    {"policy.standards.*.tekun_monthly", CPS_CFG_STRING, NULL, 0, 0, NULL, 0,
     "特困人员基本生活标准: the monthly basic-living standard of 特困 persons, in yuan; the "
     "policy sets it at no less than 1.6 × the 低保 standard (check TEKUN_STANDARD_TOO_LOW)."},
    {"policy.checks.*.enabled", CPS_CFG_BOOL, "true", 0, 0, NULL, 0,
     "Whether the policy check of this code runs (codes: GRADUAL_EXIT_NOT_SIX_MONTHS, "
     "EXITED_DURING_GRADUAL_EXIT, INCOME_ABOVE_STANDARD_ACTIVE, TEKUN_STANDARD_TOO_LOW, "
     "VERIFICATION_COUNTS_EXCLUDED, VERIFICATION_TOTAL_MISMATCH, VERIFICATION_PER_CAPITA, "
     "DECEASED_ENROLLED, SINGLE_PERSON_NOT_ELIGIBLE, TEMPORARY_WRONG_REGION, "
     "PERMIT_HOLDER_WRONG_REGION; deploy/policy.default.yaml says what each checks). Every "
     "check runs unless disabled here."},
    {"policy.checks.*.category", CPS_CFG_ENUM, NULL, 0, 0, "ELIGIBILITY_CHANGE|DATA_INCONSISTENCY",
     0, "The alert category of the check's findings (each check declares its own)."},
    {"policy.checks.*.severity", CPS_CFG_ENUM, NULL, 0, 0, "LOW|MEDIUM|HIGH|URGENT", 0,
     "The alert severity of the check's findings (each check declares its own)."},
    {"policy.checks.*.text", CPS_CFG_STRING, NULL, 0, 0, NULL, 0,
     "The rule's text shown with each finding (each check declares the policy's own words)."},
    {"rules.*.cases.*.when.*", CPS_CFG_STRING, NULL, 0, 0, NULL, 0,
     "A condition of a conditional rule set (a case): the record's field of this name "
     "equals this value (as text: `\"441521\"`, `3`, `true`). The case applies when all its "
     "conditions hold; the first case that applies wins, in the order written. A field a "
     "condition reads is decided by the entity's own rules."},
    {"rules.*.cases.*.default.rule", CPS_CFG_ENUM, NULL, 0, 0, "precedence|latest|manual", 0,
     "The case's rule for fields without an entry of their own (in the case or the "
     "entity); unset parts come from the entity's `default`."},
    {"rules.*.cases.*.default.platforms", CPS_CFG_LIST, NULL, 0, 0, NULL, 0,
     "The case's platform order, most authoritative first."},
    {"rules.*.cases.*.default.on_disagree", CPS_CFG_ENUM, NULL, 0, 0, "accept|flag|conflict", 0,
     "The case's disagreement handling."},
    {"rules.*.cases.*.fields.*.rule", CPS_CFG_ENUM, NULL, 0, 0, "precedence|latest|manual", 0,
     "The rule of one field while the case applies; unset parts come from the case's "
     "`default`, else the entity's."},
    {"rules.*.cases.*.fields.*.platforms", CPS_CFG_LIST, NULL, 0, 0, NULL, 0,
     "Platform names for this field while the case applies, most authoritative first."},
    {"rules.*.cases.*.fields.*.on_disagree", CPS_CFG_ENUM, NULL, 0, 0, "accept|flag|conflict", 0,
     "Disagreement handling for this field while the case applies."},
};

const size_t cps_config_keys_count = sizeof(cps_config_keys) / sizeof(cps_config_keys[0]);
