/*
 * The pgoutput logical replication protocol (version 1) as the walsender
 * streams it inside COPY BOTH: the CopyData envelopes ('w' XLogData, 'k'
 * keepalive, our 'r' standby status update) and the messages inside XLogData
 * (Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate,
 * Message),
 * plus the relation cache keyed by OID that a new Relation message replaces.
 */
#ifndef CPS_PGOUTPUT_H
#define CPS_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch). */
#define CPS_PG_EPOCH_OFFSET_US 946684800000000LL

/* A CopyData frame from the server. */
struct cps_pgo_frame {
	char kind;            /* 'w' or 'k' */
	uint64_t wal_start;   /* 'w': LSN of the data */
	uint64_t wal_end;     /* both: the server's end of WAL */
	int64_t send_time;    /* both: µs since 2000-01-01 */
	bool reply_requested; /* 'k' */
	const uint8_t *data;  /* 'w': the pgoutput message (borrowed) */
	size_t len;
};

/* Parses a CopyData frame; CPS_ERR_INVALID on a short or unknown frame. */
int cps_pgo_parse_frame(const void *buf, size_t len, struct cps_pgo_frame *out, char *errstr,
                        size_t errstr_size);
/* Writes a standby status update ('r', 34 bytes) into out. */
size_t cps_pgo_status_update(uint8_t out[34], uint64_t write, uint64_t flush, uint64_t apply,
                             int64_t now_us_2000, bool reply);

/* One column value of a TupleData: 'n' null, 'u' unchanged TOAST, 't' text. */
struct cps_pgo_value {
	char kind;
	const char *data; /* 't': not NUL-terminated, borrowed from the message */
	uint32_t len;
};

struct cps_pgo_tuple {
	uint16_t n;
	struct cps_pgo_value *vals; /* owned by the decoder, reused */
};

struct cps_pgo_column {
	uint8_t flags; /* 1 = part of the key */
	const char *name;
	uint32_t type_oid;
	int32_t typmod;
};

enum cps_pgo_kind {
	CPS_PGO_BEGIN = 'B',
	CPS_PGO_COMMIT = 'C',
	CPS_PGO_ORIGIN = 'O',
	CPS_PGO_RELATION = 'R',
	CPS_PGO_TYPE = 'Y',
	CPS_PGO_INSERT = 'I',
	CPS_PGO_UPDATE = 'U',
	CPS_PGO_DELETE = 'D',
	CPS_PGO_TRUNCATE = 'T',
	CPS_PGO_MESSAGE = 'M',
};

/* One decoded message. Strings and values point into the message buffer or
 * into the decoder's arrays: valid until the next decode on that decoder. */
struct cps_pgo_msg {
	enum cps_pgo_kind kind;
	/* Begin: final_lsn, commit_ts, xid; Commit: flags, lsn (commit), end_lsn,
	 * commit_ts; Origin: lsn, name */
	uint64_t lsn, end_lsn;
	int64_t commit_ts; /* µs since 2000-01-01 */
	uint32_t xid;
	uint8_t flags;
	const char *name; /* Origin: origin name; Type: type name; Message: prefix */
	/* Message (pg_logical_emit_message): flags 1 = transactional, lsn */
	const char *content; /* not NUL-terminated, borrowed */
	uint32_t content_len;
	/* Relation / Type */
	uint32_t relid;
	const char *nspname, *relname; /* Relation, Type (namespace) */
	char replident;
	uint16_t ncols;
	struct cps_pgo_column *cols;
	/* Insert / Update / Delete: old_kind 0, 'K' (key) or 'O' (old row) */
	char old_kind;
	struct cps_pgo_tuple old_tuple, new_tuple;
	bool has_new;
	/* Truncate */
	uint32_t n_relids;
	uint8_t truncate_options;
	uint32_t *relids;
};

struct cps_pgo_decoder {
	struct cps_pgo_column *cols;
	size_t cap_cols;
	struct cps_pgo_value *vals[2];
	size_t cap_vals[2];
	uint32_t *relids;
	size_t cap_relids;
};

void cps_pgo_decoder_init(struct cps_pgo_decoder *d);
void cps_pgo_decoder_release(struct cps_pgo_decoder *d);
/* Decodes one pgoutput message (the payload of a 'w' frame). Hostile or
 * truncated input gets CPS_ERR_INVALID with the reason. */
int cps_pgo_decode(struct cps_pgo_decoder *d, const void *buf, size_t len, struct cps_pgo_msg *out,
                   char *errstr, size_t errstr_size);

/* A relation as last described by a Relation message (owned copies). */
struct cps_pgo_relation {
	uint32_t relid;
	char *nspname, *relname;
	char replident;
	uint16_t ncols;
	char **colnames;
	uint32_t *type_oids;
	uint8_t *colflags;
	void *user; /* the caller's per-relation data (e.g. a table mapping); not freed */
};

struct cps_pgo_relcache {
	struct cps_pgo_relation *rels;
	size_t n, cap;
};

void cps_pgo_relcache_init(struct cps_pgo_relcache *rc);
void cps_pgo_relcache_release(struct cps_pgo_relcache *rc);
/* Adds or replaces (DDL) the relation of a decoded Relation message; returns
 * the cached entry, or NULL when memory is out. */
struct cps_pgo_relation *cps_pgo_relcache_put(struct cps_pgo_relcache *rc,
                                              const struct cps_pgo_msg *m);
struct cps_pgo_relation *cps_pgo_relcache_get(struct cps_pgo_relcache *rc, uint32_t relid);

/* "X/X" text of an LSN into buf; and the parse of such text (-1 if bad). */
void cps_pgo_lsn_format(uint64_t lsn, char *buf, size_t size);
int cps_pgo_lsn_parse(const char *text, uint64_t *out);

#endif
