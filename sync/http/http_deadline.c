/*
 * The request deadline: libmicrohttpd 0.9.75 has only an idle timeout, which
 * a client sending a byte every few seconds never reaches. Each connection
 * gets a clock at accept (and again when its previous request is answered);
 * a reaper thread shuts down the socket of any connection that has not
 * delivered its whole request within http.request_deadline_s.
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"
#include "base/log.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define REAP_INTERVAL_MS 250

static struct conn_clock *clock_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void cps_http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe)
{
	struct cps_http_server *srv = cls;
	struct conn_clock *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(c = calloc(1, sizeof(*c))))
			return; /* no clock: only the idle timeout applies */
		c->fd = ci->connect_fd;
		c->receiving = 1;
		clock_gettime(CLOCK_MONOTONIC, &c->since);
		pthread_mutex_lock(&srv->clocks_lock);
		c->next = srv->clocks;
		if (srv->clocks)
			srv->clocks->prev = c;
		srv->clocks = c;
		pthread_mutex_unlock(&srv->clocks_lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	/* MHD closes the socket after this: once unlinked, the reaper can
	 * no longer shut down a reused descriptor number */
	pthread_mutex_lock(&srv->clocks_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clocks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&srv->clocks_lock);
	free(c);
	*socket_context = NULL;
}

void cps_http_clock_mark(struct cps_http_server *srv, struct MHD_Connection *conn, int receiving)
{
	struct conn_clock *c = clock_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&srv->clocks_lock);
	if (receiving)
		clock_gettime(CLOCK_MONOTONIC, &c->since);
	c->receiving = receiving;
	pthread_mutex_unlock(&srv->clocks_lock);
}

/* Shuts down the sockets past the deadline; MHD then sees the end of the
 * stream and closes the connection itself. @locks clocks_lock MUST be held */
static unsigned reap_late(struct cps_http_server *srv, const struct timespec *now)
{
	unsigned n = 0;

	for (struct conn_clock *c = srv->clocks; c; c = c->next) {
		long long ms = (long long)(now->tv_sec - c->since.tv_sec) * 1000 +
		               (now->tv_nsec - c->since.tv_nsec) / 1000000;

		if (!c->receiving || ms < (long long)srv->deadline_s * 1000)
			continue;
		atomic_fetch_add(&srv->reaped, 1); /* counted before the client can see it */
		shutdown(c->fd, SHUT_RDWR);
		c->receiving = 0;
		n++;
	}
	return n;
}

static void *reaper_main(void *arg)
{
	struct cps_http_server *srv = arg;
	struct timespec now, until;
	unsigned n;

	pthread_mutex_lock(&srv->clocks_lock);
	while (!srv->reaper_stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		n = reap_late(srv, &now);
		if (n) {
			cps_log_warn(
			    "HTTP",
			    "closed %u connection(s) that did not deliver a request within %u s", n,
			    srv->deadline_s);
		}
		until = now;
		until.tv_nsec += REAP_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->reaper_wake, &srv->clocks_lock, &until);
	}
	pthread_mutex_unlock(&srv->clocks_lock);
	return NULL;
}

int cps_http_deadline_start(struct cps_http_server *srv, char *errstr, size_t errstr_size)
{
	pthread_condattr_t ca;
	int err;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->reaper_wake, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&srv->reaper, NULL, reaper_main, srv);
	if (err)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "cannot start the HTTP deadline thread: %s", strerror(err));
	srv->reaper_started = 1;
	return CPS_OK;
}

void cps_http_deadline_stop(struct cps_http_server *srv)
{
	if (!srv->reaper_started)
		return;
	pthread_mutex_lock(&srv->clocks_lock);
	srv->reaper_stop = 1;
	pthread_cond_signal(&srv->reaper_wake);
	pthread_mutex_unlock(&srv->clocks_lock);
	pthread_join(srv->reaper, NULL);
	srv->reaper_started = 0;
	pthread_cond_destroy(&srv->reaper_wake);
}
