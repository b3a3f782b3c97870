/*
 * Private to the HTTP server (http.c, http_request.c, http_route.c,
 * http_auth.c, http_response.c, http_stats.c, http_lane.c, http_deadline.c):
 * the server, route, token, lane and per-request structs and the functions
 * those files share. Not for other rooms: use http.h.
 */
#ifndef CPS_HTTP_INT_H
#define CPS_HTTP_INT_H

#include "http/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAX_SEGMENTS      32
#define MAX_TOKEN_LEN     1024
#define MIN_TOKEN_LEN     16
#define MAX_METHOD_LEN    16
#define RESP_HEADER_LIMIT ((size_t)64 << 10)

struct stats {
	uint64_t count[5];
	uint64_t total;
	double latency_sum_s;
	uint64_t latency_le[CPS_HTTP_LATENCY_BUCKETS];
};

/* Immutable once linked into the server's list (only stats change, under
 * stats_lock); freed at cps_http_stop. */
struct route {
	struct route *next;
	char method[MAX_METHOD_LEN + 1];
	char *pattern;
	size_t nseg;
	char **seg; /* literal text, or the parameter name */
	unsigned char *is_param;
	cps_http_handler handler;
	void *ctx;
	unsigned roles;
	struct stats st;
};

struct token {
	char *name;
	char *token; /* NULL when only its hash is known */
	size_t len;
	char sha256[65]; /* hex digest of the secret, lowercase */
	unsigned roles;
	char *regions; /* NULL = every region */
};

struct http_request_state;

/* A queue of complete requests and the worker threads that run their
 * handlers (http_lane.c). */
struct lane {
	const char *name; /* "api" or "probe", for error texts */
	struct cps_http_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct http_request_state *head, *tail; /* under lock */
	int stopping;                           /* under lock */
	pthread_t *threads;
	size_t n_threads; /* started */
};

/* The clock of one connection (http_deadline.c): since when it has been
 * delivering its current request. Linked in the server's list from
 * MHD's "connection started" notification to its "closed" one, which MHD
 * sends before it closes the socket, so `fd` is open while linked. */
struct conn_clock {
	struct conn_clock *prev, *next;
	int fd;
	struct timespec since; /* accept, or the end of the previous request */
	int receiving;         /* 0 once the whole request is in (or reaped) */
};

struct cps_http_server {
	struct MHD_Daemon *mhd;
	int listen_fd;
	unsigned port;
	size_t max_body;
	struct cps_http_conf conf; /* callbacks only; strings are not kept */
	char **open_routes;
	size_t n_open;

	pthread_rwlock_t routes_lock;
	struct route *routes;
	struct route **routes_tail;

	pthread_mutex_t tokens_lock;
	struct token *tokens;
	size_t n_tokens;

	pthread_mutex_t stats_lock;
	struct stats unmatched;

	struct lane api_lane;   /* handlers of every route but the probes */
	struct lane probe_lane; /* handlers of probe_routes, on a thread of their own */
	/* The built-in /healthz: answered on the I/O thread itself, so that
	 * not even a slow /readyz or /metrics on the probe worker delays it */
	cps_http_handler io_handler;
	char **probe_routes;
	size_t n_probe;

	pthread_mutex_t clocks_lock;
	struct conn_clock *clocks;
	unsigned deadline_s;
	int reaper_started;
	int reaper_stop; /* under clocks_lock */
	pthread_cond_t reaper_wake;
	pthread_t reaper;
	atomic_uint_fast64_t reaped; /* connections closed by the deadline */

	struct cps_buf tls_cert, tls_key;
	atomic_int starting;
	char start_msg[256];
};

struct http_request_state {
	struct cps_http_server *server;
	struct MHD_Connection *conn;
	struct timespec t0;
	const struct route *route;
	const char *method_tag; /* a known method name or "OTHER": safe to log */
	char *path_copy;        /* split in place into seg[] */
	char *seg[MAX_SEGMENTS];
	size_t nseg;
	int too_big;
	int answered;
	struct cps_buf body;
	char *principal;
	unsigned roles;
	char *regions; /* the token's, copied at authentication; NULL = every region */
	/* Handed to a lane: the handler runs on a worker thread while the
	 * connection is suspended; `url` and `method` stay valid meanwhile
	 * (MHD's connection memory), `resp` is answered on the MHD thread
	 * once `handled`. */
	const char *url, *method;
	struct http_request_state *next_queued;
	struct cps_http_response resp;
	int queued;
	int handled;
};

/* ---- http_route.c ---- */

/* Splits "/a/b/c" in place into segments (the leading '/' is required;
 * "/" has none). -1 when there are too many. */
int cps_http_split_path(char *p, char **seg, size_t *nseg);
/* Finds the route for rs's path and method; on a path match with another
 * method fills `allow` (405). Takes routes_lock for reading. */
const struct route *cps_http_route_find(struct cps_http_server *srv, struct http_request_state *rs,
                                        const char *method, char *allow, size_t allow_size);
void cps_http_route_free(struct route *r);

/* ---- http_auth.c ---- */

void cps_http_tokens_free(struct token *t, size_t n);
/* Looks the bearer token up; fills rs->principal, rs->roles, rs->regions.
 * Returns 1 found, 0 not found, -1 no bearer credentials at all. */
int cps_http_authenticate(struct http_request_state *rs);

/* ---- http_response.c ---- */

void cps_http_response_init(struct cps_http_response *resp);
void cps_http_response_release(struct cps_http_response *resp);
/* Queues resp on the connection, counts it, writes the access log.
 * @locality MHD thread, inside the access handler */
enum MHD_Result cps_http_answer(struct http_request_state *rs, struct cps_http_response *resp);
/* An error document with one optional extra header, answered at once. */
enum MHD_Result cps_http_answer_error(struct http_request_state *rs, int status,
                                      const char *header_name, const char *header_value,
                                      const char *msg);

/* ---- http_stats.c ---- */

/* Counts one answer of `status` that took `ms` into st, under stats_lock. */
void cps_http_record_stats(struct cps_http_server *srv, struct stats *st, int status, double ms);

/* ---- http_lane.c ---- */

/* Runs the route's handler into rs->resp. @locality a lane's worker */
void cps_http_run_handler(struct http_request_state *rs);

/* Starts n worker threads (n >= 1) on the lane. */
int cps_http_lane_start(struct lane *l, struct cps_http_server *srv, const char *name, size_t n,
                        char *errstr, size_t errstr_size);
/* Queues rs (its request wholly received) and suspends its connection
 * until a worker has run the handler. -1 when the lane is stopping.
 * @locality MHD thread, inside the access handler */
int cps_http_lane_submit(struct lane *l, struct http_request_state *rs);
/* Lets the workers finish the handler they run, joins them, answers the
 * requests still queued with 503 and resumes their connections. Before
 * MHD_stop_daemon, which must not find a suspended connection. */
void cps_http_lane_stop(struct lane *l);

/* ---- http_deadline.c ---- */

/* Starts the reaper thread (deadline_s > 0). */
int cps_http_deadline_start(struct cps_http_server *srv, char *errstr, size_t errstr_size);
void cps_http_deadline_stop(struct cps_http_server *srv);
/* MHD_NotifyConnectionCallback: links and unlinks the connection's clock.
 * @locality MHD thread */
void cps_http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe);
/* The whole request is in (receiving = 0), or it was answered and the
 * connection waits for its next one (receiving = 1, the clock restarts).
 * @locality MHD thread */
void cps_http_clock_mark(struct cps_http_server *srv, struct MHD_Connection *conn, int receiving);

/* ---- http_request.c: libmicrohttpd's callbacks ---- */

/* MHD_AccessHandlerCallback: @locality MHD thread */
enum MHD_Result cps_http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls);
/* MHD_RequestCompletedCallback: frees the request state. */
void cps_http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe);

#endif
