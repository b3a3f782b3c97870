/*
 * Private to the postgres sink (postgres_sink.c): the statement of one
 * change, and the connection's cache of prepared statement shapes. A shape
 * is (entity, upsert or delete, the ordered mapped columns); the server
 * parses and plans it once per connection instead of once per row.
 */
#ifndef CPS_PG_SINK_STMT_H
#define CPS_PG_SINK_STMT_H

#include "base/buf.h"
#include "connectors/connector.h"
#include "connectors/postgres/pg_sink_record.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* Shapes kept prepared at most; a flush that finds the cache full starts
 * it over (DEALLOCATE ALL), and a shape met while it is full is sent
 * unprepared, so a stream of ever new shapes cannot grow it without end. */
#define PG_SINK_MAX_SHAPES 256

/* One change put and not yet flushed; its strings are in the sink's batch. */
struct pg_sink_change {
	const char *entity, *key, *json;
	int64_t version;
	bool is_delete;
};

/* Where statements go: the sink's connection and naming settings. */
struct pg_sink_target {
	PGconn *db;
	const struct cps_settings *map; /* table.<entity>, column.<entity>.<field> */
	const char *key_column, *version_column;
};

struct pg_sink_shape {
	char *key; /* 'U' or 'D', entity, then each column, each NUL-ended */
	size_t key_len;
	uint64_t hash;
	char name[32]; /* the prepared statement's name */
};

/* The shapes prepared on the current connection; zero-initialised is empty. */
struct pg_sink_shapes {
	struct pg_sink_shape *v;
	size_t n, cap;
	uint64_t next_name; /* never reused while the sink lives */
	uint64_t prepared;  /* statements prepared since the sink opened */
};

/* One change's statement: its parameters point into `rec` and `version`. */
struct pg_sink_stmt {
	const char **params;
	int n_params;
	char version[24];
	struct pg_sink_record rec;
	const char **columns; /* the mapped columns of params[2..] */
	size_t n_columns;
	struct cps_buf shape; /* the shape's key */
	char name[32];        /* the prepared statement; "" when sent as `sql` */
	struct cps_buf sql;   /* the text, while it is prepared or when sent unprepared */
};

/* The parameters and shape of one change: values are text, strings as they
 * are, other JSON as its compact text, null as NULL. CPS_ERR_INVALID for a
 * record that is not a JSON object, CPS_ERR_FATAL when memory is out. */
int pg_sink_stmt_build(const struct pg_sink_target *t, const struct pg_sink_change *p,
                       struct pg_sink_stmt *s, char *errstr, size_t errstr_size);
/* Gives s its prepared statement, preparing its shape (synchronously, out of
 * pipeline mode) when the connection has not yet; while the cache is full,
 * s keeps its text to be sent unprepared. On a failed prepare, returns what
 * pg_sink_upsert_error says of it with the safe message in why. */
int pg_sink_stmt_resolve(struct pg_sink_shapes *c, const struct pg_sink_target *t,
                         const struct pg_sink_change *p, struct pg_sink_stmt *s, char *why,
                         size_t why_size);
/* Queues s in the connection's pipeline: 1 when sent, 0 when not. */
int pg_sink_stmt_send(PGconn *db, const struct pg_sink_stmt *s);
void pg_sink_stmt_release(struct pg_sink_stmt *s);

/* What a failed upsert means: CPS_ERR_INVALID when the row itself is
 * refused (SQLSTATE class 22 or 23), CPS_ERR_RETRIABLE for trouble with the
 * target. */
int pg_sink_upsert_error(const PGresult *res);

/* Forgets every shape; with a live, idle connection also deallocates its
 * statements. -1 when that DEALLOCATE failed (the connection then holds
 * statements the cache no longer knows: close it). */
int pg_sink_shapes_forget(struct pg_sink_shapes *c, PGconn *db);
void pg_sink_shapes_release(struct pg_sink_shapes *c);

#endif
