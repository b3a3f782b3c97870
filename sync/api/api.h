/*
 * The steward API under /api/v1 (docs/openapi.yaml): conflicts (list, show,
 * claim, resolve), records and the audit trail, served by the HTTP server
 * (http.h) with role checks, plus the HTTP access settings of the config
 * (http.tokens, http.open_routes, http.tls_*) the engine hands to the server.
 */
#ifndef CPS_API_H
#define CPS_API_H

#include "config/config.h"
#include "codec/framing.h"
#include "http/http.h"
#include "publish/publish.h"
#include "codec/registry.h"
#include "reconcile/rules.h"
#include "codec/schema.h"

#include <stddef.h>

struct cps_api_conf {
	const char *conninfo;             /* the store; copied */
	struct cps_catalog *catalog;      /* borrowed; holds the <entity>_event schemas */
	struct cps_registry *registry;    /* borrowed; NULL = registry-free ids */
	enum cps_framing unified_framing; /* as the reconcile workers encode */
	const char *unified_topic_prefix; /* copied; NULL = "cpsync.unified." */
	const struct cps_rules *rules;    /* borrowed */
	struct cps_publisher *publisher;  /* borrowed; woken after a resolution, may be NULL */
	/* the rules in force (base/live.h), taken per request; borrowed. NULL:
	 * `rules` always, and no /api/v1/rules routes */
	struct cps_live *rules_live;
	/* the policy in force (base/live.h): `rules apply` checks the enrolments
	 * and verifications it changes with it; borrowed. NULL: no checks */
	struct cps_live *policy_live;
	const char *instance;         /* who applies a rule set; copied */
	const char *const *platforms; /* the configured platforms, NULL-terminated; copied */
	/* POST /api/v1/reload: re-reads the configuration file (the engine's
	 * cps_engine_reload); NULL: no such route */
	int (*reload)(void *ctx, char *errstr, size_t errstr_size);
	void *reload_ctx;
};

struct cps_api;
struct cps_live;

/* Borrowed pointers must outlive cps_api_free. Connects to nothing yet. */
int cps_api_new(const struct cps_api_conf *conf, struct cps_api **out, char *errstr,
                size_t errstr_size);
/* Registers every /api/v1 steward route on `server`. */
int cps_api_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                     size_t errstr_size);
/* From now on the API answers 503 and this waits for requests in flight:
 * call it before stopping what the API borrows (the publisher). */
void cps_api_quiesce(struct cps_api *api);
/* After cps_http_stop. NULL-safe. */
void cps_api_free(struct cps_api *api);

/* The access settings of a loaded config, ready for cps_http_conf and
 * cps_http_set_tokens. Strings point into the config (which must outlive
 * the struct) except the arrays, which cps_api_auth_release frees. */
struct cps_api_auth {
	struct cps_http_token *tokens;
	char **regions; /* owned: tokens[i].regions, joined with commas (NULL: none) */
	size_t n_tokens;
	const char **open_routes;  /* NULL-terminated, for cps_http_conf.open_routes */
	const char *tls_cert_file; /* NULL when unset */
	const char *tls_key_file;
};

int cps_api_auth_from_config(const struct cps_config *cfg, struct cps_api_auth *out, char *errstr,
                             size_t errstr_size);
void cps_api_auth_release(struct cps_api_auth *a);

#endif
