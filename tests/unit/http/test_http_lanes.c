/*
 * The HTTP server's threads and limits against hostile clients (issue 11,
 * probes 6 and 7), on a real server on 127.0.0.1 port 0 with raw sockets:
 * probe routes answer while every API worker is blocked, stopping with
 * requests queued and running, the request deadline against a client that
 * trickles its headers, and the default per-IP limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/common.h"
#include "http/http.h"

/* A handler that holds its worker until released. */
static struct blocker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered;
	int released;
} blk = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void h_block(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	pthread_mutex_lock(&blk.lock);
	blk.entered++;
	pthread_cond_broadcast(&blk.cond);
	while (!blk.released)
		pthread_cond_wait(&blk.cond, &blk.lock);
	pthread_mutex_unlock(&blk.lock);
	cps_http_reply_json(resp, 200, json_pack("{s:s}", "ok", "released"));
}

static void h_metrics(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	resp->content_type = "text/plain";
	cps_http_reply_json(resp, 200, json_pack("{s:i}", "metric", 1));
}

static void blocker_reset(void)
{
	pthread_mutex_lock(&blk.lock);
	blk.entered = blk.released = 0;
	pthread_mutex_unlock(&blk.lock);
}

static void blocker_wait_entered(int n)
{
	pthread_mutex_lock(&blk.lock);
	while (blk.entered < n)
		pthread_cond_wait(&blk.cond, &blk.lock);
	pthread_mutex_unlock(&blk.lock);
}

static void blocker_release(void)
{
	pthread_mutex_lock(&blk.lock);
	blk.released = 1;
	pthread_cond_broadcast(&blk.cond);
	pthread_mutex_unlock(&blk.lock);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int raw_connect(unsigned port, int rcv_timeout_s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = rcv_timeout_s};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* GET path on a fresh connection; the status, 0 when closed unanswered or
 * nothing came within rcv_timeout_s. */
static int raw_get(unsigned port, const char *path, int rcv_timeout_s)
{
	char req[256], buf[512];
	int fd = raw_connect(port, rcv_timeout_s), status = 0;
	ssize_t n;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 12) {
			buf[n] = 0;
			sscanf(buf, "HTTP/1.1 %d", &status);
		}
	}
	close(fd);
	return status;
}

struct client {
	unsigned port;
	int status;
	pthread_t t;
	const char *path; /* NULL = /api/v1/block */
};

static void *client_main(void *arg)
{
	struct client *c = arg;

	c->status = raw_get(c->port, c->path ? c->path : "/api/v1/block", 30);
	return NULL;
}

static struct cps_http_server *start(const struct cps_http_conf *conf)
{
	struct cps_http_server *srv = NULL;
	char err[CPS_ERRSTR_SIZE];
	struct cps_http_conf c = *conf;

	c.listen = "127.0.0.1:0";
	if (cps_http_start(&c, &srv, err, sizeof(err)) != CPS_OK)
		fail_msg("start: %s", err);
	assert_int_equal(cps_http_route(srv, "GET", "/api/v1/block", h_block, NULL, CPS_HTTP_OPEN,
	                                err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_http_route(srv, "GET", "/api/v1/block2", h_block, NULL, CPS_HTTP_OPEN,
	                                err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_http_route(srv, "GET", "/metrics", h_metrics, NULL, CPS_HTTP_OPEN, err,
	                                sizeof(err)),
	                 CPS_OK);
	return srv;
}

/* Every API worker blocked and one request queued behind them: /healthz,
 * /readyz and /metrics still answer at once (the probe worker). */
static void test_probes_while_api_blocked(void **state)
{
	struct cps_http_conf conf = {.threads = 2};
	struct cps_http_server *srv;
	struct client c[3];
	double t0;

	blocker_reset();
	srv = start(&conf);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct client){.port = cps_http_port(srv)};
		assert_int_equal(pthread_create(&c[i].t, NULL, client_main, &c[i]), 0);
	}
	blocker_wait_entered(2);
	t0 = now_s();
	assert_int_equal(raw_get(cps_http_port(srv), "/healthz", 3), 200);
	assert_int_equal(raw_get(cps_http_port(srv), "/readyz", 3), 200);
	assert_int_equal(raw_get(cps_http_port(srv), "/metrics", 3), 200);
	assert_true(now_s() - t0 < 2.5);
	usleep(100 * 1000);
	assert_int_equal(blk.entered, 2); /* the third waits for a worker */
	blocker_release();
	for (int i = 0; i < 3; i++) {
		pthread_join(c[i].t, NULL);
		assert_int_equal(c[i].status, 200);
	}
	cps_http_stop(srv);
}

/* The probe worker blocked too (a slow /readyz or /metrics, here a route
 * made a probe route): /healthz answers on the I/O thread. */
static void test_healthz_while_every_worker_blocked(void **state)
{
	static const char *const probes[] = {"/readyz", "/metrics", "/api/v1/block", NULL};
	struct cps_http_conf conf = {.threads = 1, .probe_routes = probes};
	struct cps_http_server *srv;
	struct client c[2];

	blocker_reset();
	srv = start(&conf);
	c[0] = (struct client){.port = cps_http_port(srv), .path = "/api/v1/block"};
	c[1] = (struct client){.port = cps_http_port(srv), .path = "/api/v1/block2"};
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&c[i].t, NULL, client_main, &c[i]), 0);
	blocker_wait_entered(2); /* the probe worker and the only API worker */
	assert_int_equal(raw_get(cps_http_port(srv), "/healthz", 3), 200);
	blocker_release();
	for (int i = 0; i < 2; i++) {
		pthread_join(c[i].t, NULL);
		assert_int_equal(c[i].status, 200);
	}
	cps_http_stop(srv);
}

static void *stop_main(void *arg)
{
	cps_http_stop(arg);
	return NULL;
}

/* Stopping while a handler runs and requests are queued (suspended
 * connections): the running one finishes, the server stops cleanly
 * (libmicrohttpd panics on a connection left suspended). */
static void test_stop_with_queued_requests(void **state)
{
	struct cps_http_conf conf = {.threads = 1};
	struct cps_http_server *srv;
	struct client c[3];
	pthread_t stopper;

	blocker_reset();
	srv = start(&conf);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct client){.port = cps_http_port(srv)};
		assert_int_equal(pthread_create(&c[i].t, NULL, client_main, &c[i]), 0);
	}
	blocker_wait_entered(1);
	usleep(200 * 1000); /* the other two are queued */
	assert_int_equal(pthread_create(&stopper, NULL, stop_main, srv), 0);
	usleep(200 * 1000);
	blocker_release();
	pthread_join(stopper, NULL);
	for (int i = 0; i < 3; i++) {
		pthread_join(c[i].t, NULL);
		/* the one that ran got its answer; the queued ones 503 or closed */
		assert_true(c[i].status == 200 || c[i].status == 503 || c[i].status == 0);
	}
	assert_int_equal(blk.entered, 1);
}

/* A client sending a header line every 300 ms is never idle for the 30 s
 * timeout; the 1 s deadline closes it. */
static void test_request_deadline(void **state)
{
	struct cps_http_conf conf = {.request_deadline_s = 1, .timeout_s = 30};
	struct cps_http_server *srv;
	double t0, closed_after = -1;
	char buf[256];
	int fd;

	srv = start(&conf);
	fd = raw_connect(cps_http_port(srv), 1);
	t0 = now_s();
	assert_true(send(fd, "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL) == 23);
	for (int i = 0; i < 20 && closed_after < 0; i++) {
		struct timeval tv = {.tv_usec = 300 * 1000};
		ssize_t n;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) != 11)
			closed_after = now_s() - t0;
	}
	close(fd);
	print_message("trickling client closed after %.2f s (deadline 1 s)\n", closed_after);
	assert_true(closed_after >= 0.9 && closed_after <= 2.5);
	assert_int_equal(cps_http_deadline_closed(srv), 1);
	/* a whole request in time is answered, and the server still serves */
	assert_int_equal(raw_get(cps_http_port(srv), "/healthz", 3), 200);
	assert_int_equal(cps_http_deadline_closed(srv), 1);
	cps_http_stop(srv);
}

/* The default per-IP limit is 8: a ninth connection is refused. */
static void test_default_per_ip_limit(void **state)
{
	struct cps_http_conf conf = {0};
	struct cps_http_server *srv;
	int fds[8], ninth;
	char buf[64];

	srv = start(&conf);
	for (int i = 0; i < 8; i++)
		fds[i] = raw_connect(cps_http_port(srv), 2);
	usleep(200 * 1000);
	ninth = raw_connect(cps_http_port(srv), 2);
	assert_true(recv(ninth, buf, sizeof(buf), 0) <= 0);
	close(ninth);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	usleep(200 * 1000);
	assert_int_equal(raw_get(cps_http_port(srv), "/healthz", 3), 200);
	cps_http_stop(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probes_while_api_blocked),
	    cmocka_unit_test(test_healthz_while_every_worker_blocked),
	    cmocka_unit_test(test_stop_with_queued_requests),
	    cmocka_unit_test(test_request_deadline),
	    cmocka_unit_test(test_default_per_ip_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
