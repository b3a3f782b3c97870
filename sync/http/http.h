/*
 * cpsync's HTTP server (libmicrohttpd): routes with {name} path parameters,
 * bearer-token auth by role bit set, body and connection limits, JSON reply
 * helpers, per-route counters (by route pattern, never by raw path), an
 * access-log hook and the built-in /healthz and /readyz endpoints.
 * Other modules (engine, steward API, metrics) register their routes here.
 *
 * Threads: one libmicrohttpd thread (epoll) does all socket I/O and runs
 * one handler only, the built-in /healthz (conf.alive must be instant).
 * The others run on two lanes of worker threads: `threads` API workers,
 * and one probe worker of its own for conf.probe_routes (/readyz,
 * /metrics). Same listener, own thread: a probe answers
 * while every API worker is blocked (a slow query, a held row lock), and
 * Kubernetes' probes need no second port. Against slow senders: a per-IP
 * connection limit and a total deadline for delivering a request (the
 * idle timeout alone never fires for a client sending a byte every 5 s).
 */
#ifndef CPS_HTTP_H
#define CPS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"

/* Roles are a bit set, not an order: a route lists the roles that may call it. */
enum cps_http_role {
	CPS_ROLE_VIEWER = 1,
	CPS_ROLE_STEWARD = 2,
	CPS_ROLE_OPERATOR = 4,
};
#define CPS_ROLE_ANY  (CPS_ROLE_VIEWER | CPS_ROLE_STEWARD | CPS_ROLE_OPERATOR)
#define CPS_HTTP_OPEN 0u /* required_roles of a route anyone may call */

struct cps_http_request;
struct cps_http_response;

struct cps_http_conf {
	/* "127.0.0.1:8080", "[::1]:8080", "localhost:0"; port 0 = ephemeral.
	 * NULL = "127.0.0.1:8080" (loopback by default). */
	const char *listen;
	size_t max_body_bytes;       /* request bodies; 0 = 1 MiB */
	unsigned timeout_s;          /* idle connection timeout; 0 = 30 s (never "none") */
	unsigned request_deadline_s; /* whole request (headers and body) within; 0 = 10 s */
	unsigned max_connections;    /* 0 = 128 */
	unsigned max_per_ip;         /* 0 = 8 */
	size_t conn_memory_limit;    /* per-connection header memory; 0 = 32 KiB (431 beyond) */
	unsigned threads;            /* API handler threads; 0 = 2 */
	/* Route patterns whose handlers run on the probe worker, not on the
	 * API workers, NULL-terminated. NULL = {"/healthz", "/readyz",
	 * "/metrics"}. Their handlers must be quick and bounded. */
	const char *const *probe_routes;
	const char *tls_cert_file; /* HTTPS when both files are set (PEM) */
	const char *tls_key_file;
	/* Route patterns served without a token whatever roles they are
	 * registered with, NULL-terminated. NULL = {"/healthz", "/readyz"};
	 * a list holding only NULL = nothing is open (health needs any role). */
	const char *const *open_routes;
	/* Liveness for GET /healthz: nonzero = alive. NULL = always alive.
	 * Runs on the I/O thread: it must return at once (no I/O, no lock
	 * held for long). */
	int (*alive)(void *ctx);
	void *alive_ctx;
	/* Readiness for GET /readyz: nonzero = ready; when not ready, append
	 * short strings (no personal data) to the JSON array `reasons`.
	 * NULL = always ready. Runs on an HTTP thread. */
	int (*ready)(void *ctx, json_t *reasons);
	void *ready_ctx;
	/* One call per answered request, on an HTTP thread. Gets the route
	 * pattern ("<unmatched>" when none), never the raw path or the body. */
	void (*access_log)(void *ctx, const char *method, const char *route_pattern, int status,
	                   double ms);
	void *access_log_ctx;
};

/* A bearer token; `roles` is a non-empty subset of CPS_ROLE_ANY. */
struct cps_http_token {
	const char *name;  /* who holds it, e.g. "steward-console"; not logged */
	const char *token; /* the secret, or NULL when token_sha256 is given */
	unsigned roles;
	/* SHA-256 of the secret as 64 hex digits (a config file that leaks
	 * does not leak the token); exactly one of token and token_sha256 */
	const char *token_sha256;
	/* Region-code prefixes the holder is confined to, comma-separated
	 * ("440305,441521": digits, 1 to 6 each); NULL or "" = every region.
	 * Never on a token with CPS_ROLE_OPERATOR: operators are not scoped. */
	const char *regions;
};

struct cps_http_request {
	const char *method;        /* "GET", "POST", …; GET routes also serve "HEAD" */
	const char *path;          /* decoded path: may hold personal data, never log it */
	const char *route_pattern; /* the matched pattern, safe to log */
	const uint8_t *body;       /* NUL-terminated; empty when there was none */
	size_t body_len;
	const char *principal; /* token name, NULL when no valid token was given */
	unsigned roles;        /* roles of that token, 0 without one */
	const char
	    *regions; /* that token's region prefixes ("440305,441521"); NULL = every region */
	const struct http_request_state *priv; /* private to the server (http_int.h) */
};

struct cps_http_response {
	int status;               /* 0 until set: the server then answers 500 */
	const char *content_type; /* a string that outlives the response; NULL = JSON */
	struct cps_buf body;
	struct cps_buf headers; /* private: "name\0value\0" pairs, see cps_http_response_header */
};

/* Runs on a worker thread of the server (several at once with conf.threads
 * > 1; probe routes on their own thread). */
typedef void (*cps_http_handler)(void *ctx, const struct cps_http_request *req,
                                 struct cps_http_response *resp);

struct cps_http_server;

/* Binds conf->listen and starts serving (with /healthz and /readyz). conf
 * is copied; strings in it need not outlive the call. On error *out is NULL. */
int cps_http_start(const struct cps_http_conf *conf, struct cps_http_server **out, char *errstr,
                   size_t errstr_size);
/* The bound TCP port (useful with port 0). */
unsigned cps_http_port(const struct cps_http_server *server);
/* Stops the threads (a running handler is waited for; queued requests get
 * 503), closes the socket, frees everything; NULL is fine. */
void cps_http_stop(struct cps_http_server *server);
/* Connections closed so far because they missed the request deadline. */
uint64_t cps_http_deadline_closed(const struct cps_http_server *server);

/* Adds a route, at any time, from any thread. `pattern` is "/a/{name}/b":
 * literal segments or whole-segment {name} parameters; a literal beats a
 * parameter at the same position. required_roles 0 = open, else the token
 * must hold one of those roles. Duplicate method+pattern is an error. */
int cps_http_route(struct cps_http_server *server, const char *method, const char *pattern,
                   cps_http_handler handler, void *ctx, unsigned required_roles, char *errstr,
                   size_t errstr_size);

/* One row of a module's route table, for cps_http_route_table. */
struct cps_http_route_spec {
	const char *method;
	const char *pattern;
	cps_http_handler handler;
	unsigned required_roles;
};

/* cps_http_route for each of the n rows, all with `ctx`; stops at the first error. */
int cps_http_route_table(struct cps_http_server *server, const struct cps_http_route_spec *routes,
                         size_t n, void *ctx, char *errstr, size_t errstr_size);

/* Replaces the token list (copied; may be called while serving). Names
 * and secrets must be unique, tokens at least 16 characters; a token's
 * regions must be well-formed and never on an operator. */
int cps_http_set_tokens(struct cps_http_server *server, const struct cps_http_token *tokens,
                        size_t n, char *errstr, size_t errstr_size);

/* Path parameter, query parameter (URL-decoded; "" when given without a
 * value) and request header by name; NULL when absent. */
const char *cps_http_param(const struct cps_http_request *req, const char *name);
const char *cps_http_query(const struct cps_http_request *req, const char *name);
const char *cps_http_header(const struct cps_http_request *req, const char *name);

/* Parses the body as JSON. On failure fills resp with a 400 error that gives
 * the position but never the content, and returns NULL. Caller decrefs. */
json_t *cps_http_body_json(const struct cps_http_request *req, struct cps_http_response *resp);

/* Replace the body. reply_json takes the reference to `json` (NULL, e.g. a
 * failed json_pack, gives a 500). reply_error writes
 * {"error": {"status": N, "message": "..."}}. Return CPS_OK or an error. */
int cps_http_reply_json(struct cps_http_response *resp, int status, json_t *json);
int cps_http_reply_error(struct cps_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a response header (copied); CR, LF and NUL are refused. */
int cps_http_response_header(struct cps_http_response *resp, const char *name, const char *value);

/* One registered route as cps_http_routes reports it. */
struct cps_http_route_info {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/api/v1/conflicts/{id}" */
	unsigned roles;      /* as registered; CPS_HTTP_OPEN = anyone */
	int open;            /* served without a token (open role or conf.open_routes) */
};
/* Calls cb once per registered route (built-in ones included), in
 * registration order. cb must not register routes. */
void cps_http_routes(struct cps_http_server *server,
                     void (*cb)(void *ctx, const struct cps_http_route_info *ri), void *ctx);

/* Counters of one route, by status class; latency in seconds. */
#define CPS_HTTP_LATENCY_BUCKETS 11
extern const double cps_http_latency_bounds_s[CPS_HTTP_LATENCY_BUCKETS];
#define CPS_HTTP_UNMATCHED "<unmatched>"
struct cps_http_route_stats {
	const char *method;  /* "*" for the unmatched pseudo-route */
	const char *pattern; /* route pattern or CPS_HTTP_UNMATCHED, never a raw path */
	uint64_t count[5];   /* [0] 1xx … [4] 5xx */
	uint64_t total;
	double latency_sum_s;
	uint64_t latency_le[CPS_HTTP_LATENCY_BUCKETS]; /* cumulative: requests <= bound */
};
/* Calls cb once per route (a consistent snapshot of each), then once for
 * the unmatched pseudo-route. cb must not register routes. */
void cps_http_stats(struct cps_http_server *server,
                    void (*cb)(void *ctx, const struct cps_http_route_stats *st), void *ctx);

#endif
