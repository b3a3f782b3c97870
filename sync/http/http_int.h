/*
 * Private to the HTTP server (http.c, http_request.c, http_route.c,
 * http_auth.c, http_response.c, http_stats.c): the server, route, token and
 * per-request structs and the functions those files share. Not for other
 * rooms: use http.h.
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
	char *token;
	size_t len;
	unsigned roles;
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
/* Looks the bearer token up; fills rs->principal and rs->roles.
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
