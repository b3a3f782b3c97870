/*
 * Private to the steward API (api*.c): the shared handle, the in-flight
 * gate used by cps_api_quiesce, cursors, parameter parsing and the mapping
 * of store refusals to HTTP statuses.
 */
#ifndef CPS_API_INT_H
#define CPS_API_INT_H

#include "api/api.h"
#include "store/store_steward.h"
#include "reconcile/unified.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct cps_api {
	struct cps_steward_store *store;
	struct cps_catalog *catalog;
	const struct cps_rules *rules;
	struct cps_live *rules_live;  /* when set, the rules in force (api_rules.c) */
	struct cps_live *policy_live; /* when set, the policy `rules apply` checks with */
	char *instance;
	char *conninfo;           /* the store's, for the rules pass's own connection */
	json_t *platforms;        /* the configured platforms' names */
	pthread_mutex_t apply_mu; /* one `rules apply` at a time */
	int (*reload)(void *ctx, char *errstr, size_t errstr_size);
	void *reload_ctx;
	struct cps_publisher *publisher;
	char *topic_prefix;
	pthread_mutex_t uni_mu; /* guards uni: one encoder shared by the HTTP threads */
	struct cps_unified *uni;
	json_t *region_fields; /* cps_api_region_fields of the catalog */
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	int in_flight;
	int stopping;
};

#define CPS_API_LIMIT_MAX 500

/* Call first in every handler: 0 = go on (then cps_api_leave), else the
 * response (503) is set and the handler returns at once. */
int cps_api_enter(struct cps_api *api, struct cps_http_response *resp);
void cps_api_leave(struct cps_api *api);

/* Replies for a store call that failed: the refusal's status with the
 * store's message (which never holds values), else 503/500. */
void cps_api_reply_store_error(struct cps_http_response *resp, int rc, int why, const char *errstr);
/* 200 with `body` (taken) when rc is CPS_OK, else cps_api_reply_store_error. */
void cps_api_reply_result(struct cps_http_response *resp, int rc, int why, const char *errstr,
                          json_t *body);

/* Query parameter `name` as an integer in [min, max], `def` when absent;
 * on a bad value replies 400 and returns -1. */
int cps_api_query_int(const struct cps_http_request *req, struct cps_http_response *resp,
                      const char *name, int64_t min, int64_t max, int64_t def, int64_t *out);
/* The opaque cursor text (base64 of "at_us.id") and back; decode replies
 * 400 on a bad one and returns -1. Absent = no cursor, 0. */
int cps_api_cursor_encode(const struct cps_steward_cursor *c, char *out, size_t out_size);
int cps_api_cursor_decode(const struct cps_http_request *req, struct cps_http_response *resp,
                          struct cps_steward_cursor *out);
/* An entity, field or platform name: [a-z0-9_], 1..63 characters. */
int cps_api_name_ok(const char *s);
/* Optional name-like query parameter (cps_api_name_ok); 400 and -1 when malformed. */
int cps_api_query_name(const struct cps_http_request *req, struct cps_http_response *resp,
                       const char *name, const char **out);
/* The reply to a keyset-paged list: the store's refusal (logged as "what: errstr"),
 * else 200 {"items": items, "next_cursor": the cursor, null on the last page}. */
void cps_api_reply_page(struct cps_http_response *resp, const char *what, int rc,
                        const char *errstr, json_t *items, const struct cps_steward_cursor *next);
/* The same for entries about records (audit, findings); `masked`: each
 * shown as a viewer sees its record (cps_api_viewer_audit_entry). */
void cps_api_reply_entries(struct cps_api *api, int masked, struct cps_http_response *resp,
                           const char *what, int rc, const char *errstr, json_t *items,
                           const struct cps_steward_cursor *next);

/* cps_steward_encode_fn: the API's one encoder, shared by the HTTP threads
 * (ctx: the api). */
int cps_api_encode_unified(void *ctx, const struct cps_key_state *st,
                           const struct cps_reconcile_outcome *o, int64_t now_ms,
                           struct cps_buf *out, char *errstr, size_t errstr_size);
/* The rules in force for one request, and back (api_rules.c). */
const struct cps_rules *cps_api_rules_take(struct cps_api *api);
void cps_api_rules_give(struct cps_api *api, const struct cps_rules *r);

/* Route registration of each file. */
int cps_api_conflicts_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                               size_t errstr_size);
struct cps_schema;

/* Whether a token of `roles` sees records and audit values unmasked: a
 * steward only (operators see them as a viewer does, issue 11). */
int cps_api_sees_unmasked(unsigned roles);
/* Whether a viewer may see `field` of entity schema s: the field carries
 * "cpsync.viewer": true in the schema catalog (an allow-list). */
int cps_api_viewer_may_see(const struct cps_schema *s, const char *field);
/* Reduces a record document (cps_steward_record_get) to what a viewer may
 * see: only allowed fields in the record, provenance, platform values,
 * conflicts and history; no steward reasons; embedded national IDs masked. */
void cps_api_viewer_view(const struct cps_schema *s, json_t *doc);
/* Reduces an audit entry (cps_steward_audit_list) to what a viewer may see:
 * for a record's entry, before/after only of allowed fields, no reason, a
 * personal key masked; national IDs masked in every string left. */
void cps_api_viewer_audit_entry(struct cps_catalog *catalog, json_t *entry);
/* Each entity's region fields, those with "cpsync.region": true in the
 * schema catalog (api_scope.c): {"person": ["registration_region_code",
 * ...], ...}, an empty list for an entity without any. NULL: no memory. */
json_t *cps_api_region_fields(struct cps_catalog *catalog);
/* The scope of the request's token for the steward store (store_steward.h),
 * a string to free in *out; NULL for a token of every region (operators
 * always). On failure replies 500 and returns -1. */
int cps_api_scope(struct cps_api *api, const struct cps_http_request *req,
                  struct cps_http_response *resp, char **out);
int cps_api_records_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                             size_t errstr_size);
int cps_api_audit_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                           size_t errstr_size);
int cps_api_rules_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                           size_t errstr_size);
int cps_api_findings_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                              size_t errstr_size);

#endif
