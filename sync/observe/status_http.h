/*
 * GET /status and the /readyz check (status_http.c): the link registry's
 * document plus the store's figures, and readiness (store, Kafka, links),
 * usable without an engine. Neither document ever holds personal data.
 */
#ifndef CPS_STATUS_HTTP_H
#define CPS_STATUS_HTTP_H

#include "config/settings.h"
#include "http/http.h"
#include "observe/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cps_status_http_conf {
	struct cps_status *status;   /* borrowed, must outlive the handlers */
	const char *store_conninfo;  /* copied; the handlers' own connection */
	int store_timeout_ms;        /* statement timeout of that connection; 0 = 2000 */
	const char *kafka_bootstrap; /* copied; NULL = no Kafka check */
	bool kafka_embedded;
	const struct cps_settings *kafka_properties; /* copied; "properties.*" passed through */
};

struct cps_status_http;

int cps_status_http_new(const struct cps_status_http_conf *conf, struct cps_status_http **out,
                        char *errstr, size_t errstr_size);
void cps_status_http_free(struct cps_status_http *sh);
/* Registers GET /status (open: it holds no personal data). */
int cps_status_http_register(struct cps_status_http *sh, struct cps_http_server *srv, char *errstr,
                             size_t errstr_size);
/* The readiness callback for struct cps_http_conf.ready (ctx = sh): store
 * reachable, Kafka answers a metadata request within 1 s, every link
 * RUNNING. @locality an HTTP thread */
int cps_status_http_ready(void *ctx, json_t *reasons);
/* The whole /status document (status + store figures). @locality any thread */
json_t *cps_status_http_document(struct cps_status_http *sh);

#endif
