/*
 * Lanes: where HTTP handlers run. libmicrohttpd's thread only does I/O; a
 * request that is wholly in is queued on a lane and its connection
 * suspended until one of the lane's workers has run the handler. The api
 * lane has conf.threads workers, the probe lane one of its own, so that
 * /healthz, /readyz and /metrics answer while every API worker is blocked.
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void cps_http_run_handler(struct http_request_state *rs)
{
	struct cps_http_request req = {
	    .method = rs->method,
	    .path = rs->url,
	    .route_pattern = rs->route->pattern,
	    .body = rs->body.data ? rs->body.data : (const uint8_t *)"",
	    .body_len = rs->body.len,
	    .principal = rs->principal,
	    .roles = rs->roles,
	    .regions = rs->regions,
	    .priv = rs,
	};

	rs->route->handler(rs->route->ctx, &req, &rs->resp);
}

/* Pops the next request; NULL when the lane stops. @locality lane worker */
static struct http_request_state *lane_next(struct lane *l)
{
	struct http_request_state *rs;

	pthread_mutex_lock(&l->lock);
	while (!l->head && !l->stopping)
		pthread_cond_wait(&l->wake, &l->lock);
	rs = l->stopping ? NULL : l->head;
	if (rs) {
		l->head = rs->next_queued;
		if (!l->head)
			l->tail = NULL;
		rs->next_queued = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	return rs;
}

static void *lane_main(void *arg)
{
	struct lane *l = arg;
	struct http_request_state *rs;

	while ((rs = lane_next(l))) {
		cps_http_run_handler(rs);
		rs->handled = 1;
		/* MHD_resume_connection takes MHD's lock: rs->resp is
		 * published to the MHD thread that answers it */
		MHD_resume_connection(rs->conn);
	}
	return NULL;
}

int cps_http_lane_start(struct lane *l, struct cps_http_server *srv, const char *name, size_t n,
                        char *errstr, size_t errstr_size)
{
	l->name = name;
	l->srv = srv;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	l->threads = calloc(n, sizeof(*l->threads));
	if (!l->threads)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "out of memory starting the HTTP %s workers", name);
	for (l->n_threads = 0; l->n_threads < n; l->n_threads++) {
		int err = pthread_create(&l->threads[l->n_threads], NULL, lane_main, l);

		if (err)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "cannot start an HTTP %s worker: %s", name,
			                  strerror(err));
	}
	return CPS_OK;
}

int cps_http_lane_submit(struct lane *l, struct http_request_state *rs)
{
	pthread_mutex_lock(&l->lock);
	if (l->stopping) {
		pthread_mutex_unlock(&l->lock);
		return -1;
	}
	/* suspended before any worker can pop it (and resume it) */
	MHD_suspend_connection(rs->conn);
	rs->queued = 1;
	if (l->tail)
		l->tail->next_queued = rs;
	else
		l->head = rs;
	l->tail = rs;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

void cps_http_lane_stop(struct lane *l)
{
	struct http_request_state *rs, *next;

	if (!l->threads)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = 1;
	pthread_cond_broadcast(&l->wake);
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < l->n_threads; i++)
		pthread_join(l->threads[i], NULL);
	free(l->threads);
	l->threads = NULL;
	/* nothing else touches the queue now: the MHD thread sees `stopping` */
	for (rs = l->head; rs; rs = next) {
		next = rs->next_queued;
		cps_http_reply_error(&rs->resp, 503, "the server is stopping");
		rs->handled = 1;
		MHD_resume_connection(rs->conn);
	}
	l->head = l->tail = NULL;
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
}
