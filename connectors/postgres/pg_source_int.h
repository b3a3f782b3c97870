/*
 * Private to the postgres source (postgres_source.c and pg_source_*.c): the
 * instance and the functions its files share. See postgres_source.c for the
 * positions and how commits confirm the slot.
 */
#ifndef CPS_PG_SOURCE_INT_H
#define CPS_PG_SOURCE_INT_H

#include "connectors/connector.h"

#include "base/arena.h"
#include "base/buf.h"
#include "base/clock.h"
#include "codec/codec.h"
#include "connectors/postgres/pg_mapping.h"
#include "connectors/postgres/pgoutput.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* What poll does next: read the snapshot, stream, or poll the tables. */
enum phase { PHASE_SNAPSHOT, PHASE_STREAMING, PHASE_POLLING };

/* A committed transaction: its last row's offset and the LSN past its commit. */
struct txn_mark {
	int64_t last_offset;
	uint64_t end_lsn;
};

/* A row remembered for TOAST merging (pg_source_toast.c). */
struct cached_row {
	char *key;
	size_t n;
	char **names, **values; /* values[i] NULL = SQL NULL */
};

/* The column plan of one relation, rebuilt by each Relation message. */
struct relplan {
	struct cps_pg_plan plan;
	struct relplan *next;
};

/* Polling: where a table stood after the message of sequence `seq`. */
struct poll_mark {
	int64_t seq;
	char *ts, *inc;
};

/* Per mapped table: its codec, TOAST cache and polling progress. */
struct table_state {
	struct cps_codec *codec;
	struct cached_row *toast; /* TOAST_CACHE_SLOTS, lazily allocated */
	char *last_ts, *last_inc; /* polling progress: read */
	int64_t poll_seq;
	struct poll_mark *marks; /* read, not yet committed: made durable by commit */
	size_t n_marks, cap_marks;
};

/* The incremental snapshot (pg_source_resnap.c): where the current chunk
 * stands between its watermarks in the stream. */
enum chunk_state {
	CHUNK_NONE,     /* no chunk read */
	CHUNK_SELECTED, /* read; the stream has not reached its low watermark */
	CHUNK_WINDOW,   /* the stream is between its low and high watermark */
	CHUNK_READY,    /* the high watermark passed: its rows leave */
};

/* Rows of a chunk handed out: durable progress once the engine commits
 * their last offset. table -1: the initial snapshot of every table. */
struct resnap_done {
	int64_t last_offset;
	int table;
	char *last_key; /* owned; NULL when the chunk was empty */
	int64_t rows;
	bool finished; /* the table's last chunk */
};

struct resnap {
	bool usable;           /* a progress table and logical messages (PostgreSQL >= 14) */
	char progress[160];    /* the progress table, quoted for SQL */
	bool reload;           /* read the requests again (open, a request message) */
	int64_t next_check_ms; /* ... and every RESNAP_CHECK_MS when idle */
	uint64_t run;          /* this instance's id in its watermarks */
	uint32_t chunk_no;
	int table;      /* index in map of the table being read; -1: none */
	char *last_key; /* the last key read of that table (NULL: from the start) */
	int64_t chunks, rows;
	int64_t waiting; /* requested tables after it */
	enum chunk_state chunk;
	PGresult *res; /* the chunk */
	int key_field; /* the key column in res */
	int *order;    /* row indexes sorted by key */
	bool *dropped; /* the stream changed that row's key in the window */
	int n_rows, flushed;
	bool last_chunk;
	uint64_t xmin, xmax, *xip; /* the chunk's snapshot */
	size_t n_xip;
	uint64_t hw_lsn;
	int64_t hw_commit_ms;
	struct resnap_done *done;
	size_t n_done, cap_done;
	/* what describe shows */
	char shown_table[128], shown_state[16];
	int64_t shown_chunks, shown_rows;
};

/* One postgres source instance; used by one thread at a time (the one that
 * polls and commits). */
struct pg_source {
	struct cps_conn base;
	char platform[CPS_PLATFORM_MAX];
	char *conninfo, *slot, *publication, *ignore_origin; /* in `strings` */
	char *snapshot_table;  /* the incremental snapshots' progress table; in `strings` */
	char *poll_table;      /* polling: the durable progress table; in `strings` */
	char poll_quoted[160]; /* ... quoted; "" when it cannot be used (memory only) */
	struct cps_arena strings;
	bool create_slot, create_publication, polling;
	bool truncate_dead_letter; /* setting truncate: dead_letter (else ignore) */
	int64_t status_interval_ms, poll_interval_ms, batch_rows, max_lag_bytes;
	int64_t chunk_delay_ms; /* testing: pause between a chunk's read and its high watermark */
	struct cps_catalog *catalog;
	struct cps_pg_mapping *map;
	struct table_state *ts; /* parallel to map->tables */
	PGconn *repl, *sql;
	enum phase phase;
	bool streaming_started, copy_done;
	/* snapshot */
	char snapshot_name[128];
	uint64_t consistent_lsn;
	size_t snap_table;
	bool snap_cursor_open, snap_txn_open;
	/* streaming */
	struct cps_pgo_decoder dec;
	struct cps_pgo_relcache rels;
	bool in_txn, skip_txn;
	uint32_t txn_xid;
	uint64_t txn_final_lsn;
	int64_t txn_commit_ms;
	uint32_t txn_row;
	int64_t last_offset, committed_offset;
	struct txn_mark *marks;
	size_t n_marks, cap_marks;
	uint64_t flushed_lsn;    /* reported to the server as write/flush/apply */
	uint64_t server_wal_end; /* from keepalives and XLogData */
	int64_t last_status_ms;
	/* the batch handed out by the last poll */
	struct cps_source_msg *msgs;
	size_t n_msgs, cap_msgs;
	struct cps_buf arena;     /* keys and values of the batch; pointers fixed at the end */
	struct cps_buf row;       /* NUL-terminated copies of one tuple's values */
	struct cps_pg_text *vals; /* one row's values, over row or a PGresult */
	size_t cap_vals;
	struct relplan *plans;              /* owned; reached through the relcache's user */
	struct cps_pg_plan result_plan;     /* of the last snapshot/polling result */
	char origin_prefix[CPS_ORIGIN_MAX]; /* "<platform>:<at>#" */
	size_t origin_prefix_len, slot_len;
	struct resnap resnap;
	/* status */
	int64_t lag_bytes, last_lag_query_ms;
	struct cps_conn_status counts; /* received, committed, errors, last_error;
	                                  last_msg_ms: the last commit's time */
};

/* pg_source_instance.c: the instance, which the sweep makes too. */
/* A source with nothing open yet: its platform, conninfo and slot (copied),
 * its buffers and counters set up. NULL when memory is out. */
struct pg_source *pg_source_new(const char *platform, const char *conninfo, const char *slot);
/* Loads the catalog (setting schema_dir), the mapping and each table's codec
 * (polling: every table needs its increment column), then opens the SQL
 * session, named `what` in its error. */
int pg_source_load(struct pg_source *s, const struct cps_settings *settings, const char *what,
                   char *errstr, size_t errstr_size);
/* Ends whatever is open and frees s; NULL is fine. */
void pg_source_free(struct pg_source *s);

/* pg_source_conn.c */
/* A session: replication ("database") or SQL, both in ISO dates and UTC;
 * conninfo is expanded as the dbname. Check PQstatus. */
PGconn *pg_source_connect(const char *conninfo, bool replication);
/* Counts the error, keeps it for the status and fills errstr with "what" and
 * libpq's message: CPS_ERR_FATAL while the connection is up, else
 * CPS_ERR_RETRIABLE. */
int pg_source_conn_error(struct pg_source *s, PGconn *c, const char *what, char *errstr,
                         size_t errstr_size);
/* Runs a command expecting `want`; on failure fills errstr. *out (when not
 * NULL) receives the result, the caller clears it. */
int pg_source_exec(struct pg_source *s, PGconn *c, const char *sql, ExecStatusType want,
                   PGresult **out, const char *what, char *errstr, size_t errstr_size);
/* Waits until the socket of c is readable or timeout_ms passes. */
void pg_source_wait_readable(PGconn *c, int timeout_ms);

/* pg_source_rows.c */
void pg_source_batch_reset(struct pg_source *s);
/* Turns the arena offsets of the collected messages into pointers: the
 * batch poll hands out. */
void pg_source_batch_finish(struct pg_source *s, struct cps_source_batch *b);
int pg_source_table_index(struct pg_source *s, const struct cps_pg_table *t);
/* The origin up to the row index: "<platform>:<at>#". */
void pg_source_set_origin_at(struct pg_source *s, const char *at);
/* Encodes one row (values of plan p's columns) as a message; value NULL for
 * a delete. A row that cannot be encoded leaves with an empty value, which
 * ingest refuses and dead-letters with its origin. */
/* A message of table t that cannot become a record (a TRUNCATE): refused
 * with `why`, which ingest dead-letters. */
int pg_source_emit_refusal(struct pg_source *s, struct cps_pg_table *t, int64_t offset,
                           uint64_t row, const char *why, char *errstr, size_t errstr_size);
int pg_source_emit_row(struct pg_source *s, struct cps_pg_plan *p, const struct cps_pg_text *vals,
                       bool is_delete, int64_t offset, uint64_t row, int64_t ts_ms, char *errstr,
                       size_t errstr_size);
/* The offset of the next row: `lsn`, or one past the last offset. */
int64_t pg_source_next_offset(struct pg_source *s, uint64_t lsn);
/* Emits the rows of a SELECT result in table t (snapshot or polling). */
int pg_source_emit_result(struct pg_source *s, struct cps_pg_table *t, PGresult *r, bool snapshot,
                          char *errstr, size_t errstr_size);

/* Emits rows[0..n) of a SELECT result in table t as snapshot reads at
 * stream position `lsn`, origin "<platform>:<at>#<index>" counted from
 * first_index, stamped ts_ms. */
int pg_source_emit_result_rows(struct pg_source *s, struct cps_pg_table *t, PGresult *r,
                               const int *rows, size_t n, uint64_t lsn, const char *at,
                               int64_t first_index, int64_t ts_ms, char *errstr,
                               size_t errstr_size);

/* pg_source_toast.c */
/* Remembers a row that holds a long value (which a later update may leave
 * unchanged, 'u'); forgets the key on delete. */
void pg_source_toast_remember(struct table_state *st, const char *key, const struct cps_pg_plan *p,
                              const struct cps_pg_text *vals, bool is_delete);
const struct cached_row *pg_source_toast_lookup(struct table_state *st, const char *key);
/* The current value of `column` of the row with key `key`, read over the
 * SQL session (the TOAST value was not in the cache); NULL if unknown. */
char *pg_source_read_current_value(struct pg_source *s, struct cps_pg_table *t, const char *column,
                                   const char *key);
/* Frees the table's cache. */
void pg_source_toast_free(struct table_state *st);

/* pg_source_stream.c */
/* A standby status update when due (or `force`), confirming flushed_lsn. */
int pg_source_send_status(struct pg_source *s, bool force, char *errstr, size_t errstr_size);
/* Records the end of a transaction whose rows are all handed out. -1 when
 * memory is out. */
int pg_source_push_mark(struct pg_source *s, uint64_t end_lsn);
/* Confirms every transaction wholly committed by the engine; true when
 * flushed_lsn moved. */
bool pg_source_advance_flush(struct pg_source *s);
int pg_source_start_streaming(struct pg_source *s, uint64_t from, char *errstr, size_t errstr_size);
int pg_source_poll_stream(struct pg_source *s, size_t max, int timeout_ms, char *errstr,
                          size_t errstr_size);
/* Ends the stream in order at close (confirms, CopyDone, drains), within
 * 3 s; nothing when no stream is up. */
void pg_source_stream_end(struct pg_source *s);

/* pg_source_snapshot.c */
int pg_source_poll_snapshot(struct pg_source *s, size_t max, char *errstr, size_t errstr_size);
/* At close: a snapshot that never completed drops the slot, so the next open
 * starts over. */
void pg_source_snapshot_abandon(struct pg_source *s);

/* pg_source_resnap.c: the incremental snapshot (watermarks in the stream) */
/* At open in replication mode: the progress table; with an existing slot,
 * every mapped table never snapshotted is requested. */
int pg_source_resnap_open(struct pg_source *s, bool slot_created, char *errstr, size_t errstr_size);
/* The initial snapshot handed its last row out: recorded once committed. */
int pg_source_resnap_initial_done(struct pg_source *s);
/* Before each stream frame: loads requests, reads a chunk between its
 * watermarks, hands a ready chunk's rows out. *hold: rows are left, read
 * no frame. */
int pg_source_resnap_poll(struct pg_source *s, size_t max, bool *hold, char *errstr,
                          size_t errstr_size);
/* A logical message in the stream (watermarks, requests). */
void pg_source_resnap_message(struct pg_source *s, const struct cps_pgo_msg *m, uint64_t lsn);
/* Whether a chunk of table t waits for its high watermark. */
bool pg_source_resnap_watching(struct pg_source *s, const struct cps_pg_table *t);
/* A change of table t's row `key` in the stream (transaction s->txn_xid). */
void pg_source_resnap_change(struct pg_source *s, const struct cps_pg_table *t, const char *key);
/* After a commit: progress of the chunks the engine has, made durable. */
void pg_source_resnap_committed(struct pg_source *s);
void pg_source_resnap_describe(struct pg_source *s, struct cps_conn_status *st);
void pg_source_resnap_release(struct pg_source *s);
/* A state table of the source in the city database, `name` (schema.table
 * of a setting), created with `columns` (the CREATE TABLE's list) when
 * missing; `quoted` receives it quoted for SQL. */
int pg_source_state_table(PGconn *c, const char *name, const char *columns, char *quoted,
                          size_t quoted_size, char *errstr, size_t errstr_size);
/* The progress table `name` (the snapshot_table setting, schema.table),
 * created when missing; `quoted` receives it quoted for SQL. */
int pg_source_resnap_table(PGconn *c, const char *name, char *quoted, size_t quoted_size,
                           char *errstr, size_t errstr_size);
/* pg_source_resnap_request.c: the connector's snapshot_request slot. */
int pg_source_snapshot_request(const char *platform, const struct cps_settings *settings,
                               const char *const *tables, size_t n, bool check_only, char *errstr,
                               size_t errstr_size);

/* pg_source_sweep.c: the connector's sweep_read slot (keyset chunks of
 * every mapped table over a session of its own). */
int pg_source_sweep_read(const char *platform, const struct cps_settings *settings, size_t chunk,
                         const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size);

/* pg_source_poll.c */
/* At open in polling mode: the progress table, and each table's committed
 * progress read back. */
int pg_source_poll_open(struct pg_source *s, char *errstr, size_t errstr_size);
/* Commit in polling mode: the progress up to the position made durable. */
int pg_source_poll_commit(struct pg_source *s, const struct cps_position *pos, char *errstr,
                          size_t errstr_size);
void pg_source_poll_release(struct table_state *st);
int pg_source_poll_tables(struct pg_source *s, size_t max, int timeout_ms, char *errstr,
                          size_t errstr_size);

/* pg_source_replication.c */
/* Starts replication: creates the slot with an exported snapshot (the
 * snapshot then runs in poll), or resumes an existing slot. */
int pg_source_open_replication(struct pg_source *s, char *errstr, size_t errstr_size);

/* pg_source_offsets.c: the offsets slots (connector.h) */
int pg_source_offsets_get(const char *platform, const struct cps_settings *settings,
                          struct cps_offsets *out, char *errstr, size_t errstr_size);
int pg_source_offsets_reset(const char *platform, const struct cps_settings *settings,
                            struct cps_conn *open, const struct cps_offsets_reset *to,
                            struct cps_offsets *out, char *errstr, size_t errstr_size);

#endif
