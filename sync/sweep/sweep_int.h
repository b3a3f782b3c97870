/*
 * Private to the sweep room (sweep.c: the thread and requests; sweep_run.c:
 * one run over the platforms; sweep_store.c: the store's side, SQL). Not
 * for use outside sync/sweep/.
 */
#ifndef CPS_SWEEP_INT_H
#define CPS_SWEEP_INT_H

#include "sweep/sweep.h"
#include "codec/codec.h"
#include "model/entity.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#define FACILITY  "SWEEP"
#define LOCK_NAME "cpsync.sweep" /* the store's advisory lock: one run per store */

struct cps_sweeper {
	struct cps_sweeper_conf conf;
	char *conninfo, *instance;
	struct cps_sweep_platform *platforms;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;
	bool requested, running;
	char requested_by[128];
	int req_seq, ack_seq; /* a request is answered when ack_seq reaches its seq */
	int ack_rc;
	int64_t ack_run_id;
	char ack_err[CPS_ERRSTR_SIZE];
	json_t *last_counts;
	/* @locality sweep thread */
	PGconn *conn;
	struct cps_codec *codec[CPS_N_ENTITIES];
};

/* One platform's read in progress: the chunk of decoded records waiting for
 * the store, as the JSON array [{"e": entity, "k": key, "r": record|null}]. */
struct sweep_platform_run {
	struct cps_sweeper *sw;
	const struct cps_sweep_platform *p;
	int64_t run_id;
	json_t *chunk;
	size_t in_chunk;
	bool covered[CPS_N_ENTITIES];
	int64_t records, undecodable;
};

/* sweep_run.c: one run (id run_id, recorded) over every platform, each
 * platform's figures into `platforms` ({"<platform>": {"records",
 * "undecodable", "entities", "error"?}}). On the sweep thread, holding the
 * lock. A platform that cannot be read is recorded with its error and the
 * others still run; the return is then the first such error. */
int cps_sweep_run(struct cps_sweeper *sw, int64_t run_id, json_t *platforms, char *errstr,
                  size_t errstr_size);

/* sweep_store.c */
/* A store connection that pg_stat_activity shows as `application`
 * (10 s to connect); NULL with "<who>: cannot connect: <why>" in errstr. */
PGconn *cps_sweep_connect(const char *conninfo, const char *application, const char *who,
                          char *errstr, size_t errstr_size);
/* The sweep thread's connection (re)opened when needed. */
int cps_sweep_conn(struct cps_sweeper *sw, char *errstr, size_t errstr_size);
/* Takes the store's sweep lock if free (*held) and, then, records a new
 * run (its id in *run_id). */
int cps_sweep_begin(struct cps_sweeper *sw, const char *trigger, const char *by, bool *held,
                    int64_t *run_id, char *errstr, size_t errstr_size);
/* Records the run's end (its counts summed from its differences, the
 * platforms' figures, `error` NULL when done) and releases the lock; the
 * run's counts by platform and kind go to *counts (new reference). */
int cps_sweep_end(struct cps_sweeper *sw, int64_t run_id, json_t *platforms, const char *error,
                  json_t **counts, char *errstr, size_t errstr_size);
/* Empties the temporary tables for a platform's read. */
int cps_sweep_store_reset(struct cps_sweeper *sw, char *errstr, size_t errstr_size);
/* Adds the chunk's records (the latest per key wins) to what the platform
 * holds. */
int cps_sweep_store_chunk(struct cps_sweeper *sw, json_t *chunk, char *errstr, size_t errstr_size);
/* Compares what the platform holds for the covered entities with the
 * store, in batches of chunk_rows keys, and records the differences. */
int cps_sweep_store_compare(struct cps_sweeper *sw, int64_t run_id, const char *platform,
                            const bool *covered, char *errstr, size_t errstr_size);
/* The milliseconds since the newest run started, -1 when none ever did. */
int64_t cps_sweep_store_since_last(struct cps_sweeper *sw);

#endif
