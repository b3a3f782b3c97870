/*
 * cpsync's HTTP server on libmicrohttpd 0.9.75 (see http.h for the API and
 * its threads): start and stop, the listening socket bound by us (so a
 * failure says why), TLS files, and the built-in /healthz and /readyz.
 * Requests are handled in http_request.c, run on the lanes of http_lane.c,
 * held to their deadline by http_deadline.c; routes in http_route.c, tokens
 * in http_auth.c, responses in http_response.c, counters in http_stats.c.
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* MHD's diagnostics are kept only while starting (for the error text). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct cps_http_server *srv = cls;
	size_t n;

	if (!atomic_load(&srv->starting))
		return;
	vsnprintf(srv->start_msg, sizeof(srv->start_msg), fmt, ap);
	n = strlen(srv->start_msg);
	while (n && (srv->start_msg[n - 1] == '\n' || srv->start_msg[n - 1] == '.'))
		srv->start_msg[--n] = 0;
}

static void healthz(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	struct cps_http_server *srv = ctx;
	int alive = srv->conf.alive ? srv->conf.alive(srv->conf.alive_ctx) : 1;

	cps_http_reply_json(resp, alive ? 200 : 503,
	                    json_pack("{s:s}", "status", alive ? "ok" : "unavailable"));
}

static void readyz(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	struct cps_http_server *srv = ctx;
	json_t *reasons = json_array();
	int ready;

	if (!reasons) {
		cps_http_reply_error(resp, 500, "out of memory");
		return;
	}
	ready = srv->conf.ready ? srv->conf.ready(srv->conf.ready_ctx, reasons) : 1;
	if (ready) {
		json_decref(reasons);
		cps_http_reply_json(resp, 200, json_pack("{s:b}", "ready", 1));
		return;
	}
	if (json_array_size(reasons) == 0)
		json_array_append_new(reasons, json_string("not ready"));
	cps_http_reply_json(resp, 503, json_pack("{s:b,s:o}", "ready", 0, "reasons", reasons));
}

/* The probes every server answers, open to any token (ctx: the server). */
static const struct cps_http_route_spec builtin_routes[] = {
    {"GET", "/healthz", healthz, CPS_ROLE_ANY},
    {"GET", "/readyz", readyz, CPS_ROLE_ANY},
};

/* "host:port" or "[v6]:port" into host and port strings. */
static int parse_listen(const char *addr, char *host, size_t hsize, char *port, size_t psize,
                        char *errstr, size_t errstr_size)
{
	const char *colon, *h = addr, *hend;
	char *end;
	unsigned long p;

	if (addr[0] == '[') {
		h = addr + 1;
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "listen address \"%s\" is not \"[address]:port\"", addr);
		colon = hend + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "listen address \"%s\" is not \"host:port\" (IPv6 needs brackets)",
			    addr);
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= hsize)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "listen address \"%s\" has no usable host", addr);
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || p > 65535)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "listen address \"%s\" has no valid port (0-65535)", addr);
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = 0;
	snprintf(port, psize, "%lu", p);
	return CPS_OK;
}

/* Binds and listens ourselves so that a failure says why (errno). */
static int open_listener(const char *addr, int *fd_out, int *family, unsigned *port_out,
                         char *errstr, size_t errstr_size)
{
	char host[256], port[8];
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, rc, err = 0, one = 1;

	rc = parse_listen(addr, host, sizeof(host), port, sizeof(port), errstr, errstr_size);
	if (rc)
		return rc;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "listen address \"%s\": %s",
		                  addr, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		freeaddrinfo(res);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "cannot listen on \"%s\": %s", addr, strerror(err));
	}
	*family = ai->ai_family;
	freeaddrinfo(res);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		err = errno;
		close(fd);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "getsockname on \"%s\": %s",
		                  addr, strerror(err));
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                           : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return CPS_OK;
}

static int read_pem(struct cps_buf *b, const char *path, const char *what, char *errstr,
                    size_t errstr_size)
{
	cps_buf_init(b, (size_t)1 << 20);
	if (cps_buf_read_file(b, path) < 0 || b->len == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "cannot read TLS %s file \"%s\": %s", what, path,
		                  errno ? strerror(errno) : "empty or over 1 MiB");
	return CPS_OK;
}

static void server_free(struct cps_http_server *srv)
{
	struct route *r, *next;
	size_t i;

	for (r = srv->routes; r; r = next) {
		next = r->next;
		cps_http_route_free(r);
	}
	cps_http_tokens_free(srv->tokens, srv->n_tokens);
	for (i = 0; i < srv->n_open; i++)
		free(srv->open_routes[i]);
	free(srv->open_routes);
	for (i = 0; i < srv->n_probe; i++)
		free(srv->probe_routes[i]);
	free(srv->probe_routes);
	cps_buf_release(&srv->tls_cert);
	if (srv->tls_key.data)
		explicit_bzero(srv->tls_key.data, srv->tls_key.cap);
	cps_buf_release(&srv->tls_key);
	pthread_rwlock_destroy(&srv->routes_lock);
	pthread_mutex_destroy(&srv->tokens_lock);
	pthread_mutex_destroy(&srv->stats_lock);
	pthread_mutex_destroy(&srv->clocks_lock);
	free(srv);
}

/* A NULL-terminated list of patterns copied into *out (NULL = defaults). */
static int copy_patterns(char ***out, size_t *n_out, const char *const *list,
                         const char *const *defaults)
{
	size_t n = 0, i;

	if (!list)
		list = defaults;
	while (list[n])
		n++;
	*out = calloc(n ? n : 1, sizeof(char *));
	if (!*out)
		return -1;
	for (i = 0; i < n; i++) {
		(*out)[i] = strdup(list[i]);
		if (!(*out)[i])
			return -1;
		*n_out = i + 1;
	}
	return 0;
}

static int copy_route_lists(struct cps_http_server *srv, const struct cps_http_conf *conf)
{
	static const char *const open_defaults[] = {"/healthz", "/readyz", NULL};
	static const char *const probe_defaults[] = {"/healthz", "/readyz", "/metrics", NULL};

	if (copy_patterns(&srv->open_routes, &srv->n_open, conf->open_routes, open_defaults) < 0)
		return -1;
	return copy_patterns(&srv->probe_routes, &srv->n_probe, conf->probe_routes, probe_defaults);
}

/* The daemon: one internal epoll thread that only does I/O (handlers run on
 * the lanes), connections it may suspend, a clock per connection. */
static struct MHD_Daemon *start_daemon(struct cps_http_server *srv,
                                       const struct cps_http_conf *conf, int family, int tls)
{
	struct MHD_OptionItem extra[3];
	unsigned flags;
	size_t n_extra = 0;

	if (tls) {
		extra[n_extra++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert.data};
		extra[n_extra++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key.data};
	}
	extra[n_extra] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	        MHD_ALLOW_SUSPEND_RESUME;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(
	    flags, 0, NULL, NULL, cps_http_on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
	    srv, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->listen_fd,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(conf->timeout_s ? conf->timeout_s : 30),
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(conf->max_connections ? conf->max_connections : 128),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(conf->max_per_ip ? conf->max_per_ip : 8),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(conf->conn_memory_limit ? conf->conn_memory_limit : (size_t)32 << 10),
	    MHD_OPTION_NOTIFY_COMPLETED, cps_http_on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
	    cps_http_on_connection, srv, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
}

/* Stops what cps_http_start started, in order: the lanes answer or finish
 * their requests and resume every suspended connection, then MHD stops
 * (it must find none suspended), then the reaper. */
static void server_stop_threads(struct cps_http_server *srv)
{
	cps_http_lane_stop(&srv->api_lane);
	cps_http_lane_stop(&srv->probe_lane);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd); /* joins its thread, closes the listen socket */
	srv->mhd = NULL;
	cps_http_deadline_stop(srv);
}

int cps_http_start(const struct cps_http_conf *conf, struct cps_http_server **out, char *errstr,
                   size_t errstr_size)
{
	struct cps_http_server *srv;
	const char *addr = conf->listen ? conf->listen : "127.0.0.1:8080";
	int tls = conf->tls_cert_file || conf->tls_key_file;
	int family = AF_INET, rc;

	*out = NULL;
	if (tls && !(conf->tls_cert_file && conf->tls_key_file))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "HTTPS needs both tls_cert_file and tls_key_file");
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "HTTPS requested but libmicrohttpd was built without TLS support");
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "out of memory starting the HTTP server");
	srv->listen_fd = -1;
	srv->conf = *conf;
	srv->conf.listen = srv->conf.tls_cert_file = srv->conf.tls_key_file = NULL;
	srv->conf.open_routes = srv->conf.probe_routes = NULL;
	srv->max_body = conf->max_body_bytes ? conf->max_body_bytes : (size_t)1 << 20;
	srv->deadline_s = conf->request_deadline_s ? conf->request_deadline_s : 10;
	srv->routes_tail = &srv->routes;
	srv->io_handler = healthz;
	pthread_rwlock_init(&srv->routes_lock, NULL);
	pthread_mutex_init(&srv->tokens_lock, NULL);
	pthread_mutex_init(&srv->stats_lock, NULL);
	pthread_mutex_init(&srv->clocks_lock, NULL);
	if (copy_route_lists(srv, conf) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "out of memory starting the HTTP server");
		goto out_free;
	}
	if (tls) {
		rc = read_pem(&srv->tls_cert, conf->tls_cert_file, "certificate", errstr,
		              errstr_size);
		if (rc == CPS_OK)
			rc =
			    read_pem(&srv->tls_key, conf->tls_key_file, "key", errstr, errstr_size);
		if (rc)
			goto out_free;
	}
	rc = cps_http_route_table(srv, builtin_routes, CPS_ARRAY_SIZE(builtin_routes), srv, errstr,
	                          errstr_size);
	if (rc)
		goto out_free;
	rc = open_listener(addr, &srv->listen_fd, &family, &srv->port, errstr, errstr_size);
	if (rc)
		goto out_free;
	rc = cps_http_lane_start(&srv->api_lane, srv, "api", conf->threads ? conf->threads : 2,
	                         errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_lane_start(&srv->probe_lane, srv, "probe", 1, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_deadline_start(srv, errstr, errstr_size);
	if (rc)
		goto out_stop;

	atomic_store(&srv->starting, 1);
	srv->mhd = start_daemon(srv, conf, family, tls);
	atomic_store(&srv->starting, 0);
	if (!srv->mhd) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "libmicrohttpd did not start on \"%s\": %s", addr,
		                srv->start_msg[0] ? srv->start_msg : "no reason given");
		goto out_stop;
	}
	*out = srv;
	return CPS_OK;

out_stop:
	server_stop_threads(srv);
	close(srv->listen_fd);
out_free:
	server_free(srv);
	return rc;
}

unsigned cps_http_port(const struct cps_http_server *srv)
{
	return srv ? srv->port : 0;
}

uint64_t cps_http_deadline_closed(const struct cps_http_server *srv)
{
	return srv ? (uint64_t)atomic_load(&srv->reaped) : 0;
}

void cps_http_stop(struct cps_http_server *srv)
{
	if (!srv)
		return;
	server_stop_threads(srv);
	server_free(srv);
}
