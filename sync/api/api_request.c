/*
 * What every steward route handler (api_conflicts.c, api_records.c,
 * api_audit.c) shares: the in-flight gate that lets the engine stop what
 * the API borrows (cps_api_enter/leave/quiesce), query parameters, keyset
 * cursors, name checks, the HTTP status of a store refusal, the reply of a
 * paged list, the unified encoder and the rules in force per request.
 */
#include "api/api_int.h"

#include "base/common.h"
#include "base/live.h"
#include "base/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FAC "API"

void cps_api_quiesce(struct cps_api *api)
{
	if (!api)
		return;
	pthread_mutex_lock(&api->gate_mu);
	api->stopping = 1;
	while (api->in_flight > 0)
		pthread_cond_wait(&api->gate_cv, &api->gate_mu);
	pthread_mutex_unlock(&api->gate_mu);
}

int cps_api_enter(struct cps_api *api, struct cps_http_response *resp)
{
	int stopping;

	pthread_mutex_lock(&api->gate_mu);
	stopping = api->stopping;
	if (!stopping)
		api->in_flight++;
	pthread_mutex_unlock(&api->gate_mu);
	if (stopping)
		cps_http_reply_error(resp, 503, "cpsync is stopping");
	return stopping;
}

void cps_api_leave(struct cps_api *api)
{
	pthread_mutex_lock(&api->gate_mu);
	if (--api->in_flight == 0)
		pthread_cond_broadcast(&api->gate_cv);
	pthread_mutex_unlock(&api->gate_mu);
}

void cps_api_reply_store_error(struct cps_http_response *resp, int rc, int why, const char *errstr)
{
	if (rc == CPS_ERR_INVALID && why == CPS_STEWARD_NOT_FOUND)
		cps_http_reply_error(resp, 404, "%s", errstr);
	else if (rc == CPS_ERR_INVALID && why == CPS_STEWARD_STATE)
		cps_http_reply_error(resp, 409, "%s", errstr);
	else if (rc == CPS_ERR_INVALID && why == CPS_STEWARD_BAD_REQUEST)
		cps_http_reply_error(resp, 400, "%s", errstr);
	else if (rc == CPS_ERR_RETRIABLE)
		cps_http_reply_error(resp, 503, "%s", errstr);
	else
		cps_http_reply_error(resp, 500, "%s", errstr);
}

int cps_api_query_int(const struct cps_http_request *req, struct cps_http_response *resp,
                      const char *name, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	const char *s = cps_http_query(req, name);

	if (!s) {
		*out = def;
		return 0;
	}
	if (cps_parse_decimal(s, out) || *out < min || *out > max) {
		cps_http_reply_error(resp, 400,
		                     "query parameter '%s' must be an integer from %" PRId64
		                     " to %" PRId64,
		                     name, min, max);
		return -1;
	}
	return 0;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int cps_api_cursor_encode(const struct cps_steward_cursor *c, char *out, size_t out_size)
{
	char raw[64];
	size_t n = (size_t)snprintf(raw, sizeof(raw), "%" PRId64 ".%" PRId64, c->at_us, c->id),
	       k = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)raw[i] << 16;

		v |= i + 1 < n ? (uint32_t)(uint8_t)raw[i + 1] << 8 : 0;
		v |= i + 2 < n ? (uint8_t)raw[i + 2] : 0;
		for (size_t j = 0; j < 4 && j <= n - i; j++) {
			if (k + 1 >= out_size)
				return -1;
			out[k++] = B64[(v >> (18 - 6 * j)) & 63];
		}
	}
	out[k] = '\0';
	return 0;
}

int cps_api_cursor_decode(const struct cps_http_request *req, struct cps_http_response *resp,
                          struct cps_steward_cursor *out)
{
	const char *s = cps_http_query(req, "cursor");
	char raw[64], *dot;
	size_t n, k = 0;
	uint32_t acc = 0;
	int bits = 0;

	memset(out, 0, sizeof(*out));
	if (!s)
		return 0;
	n = strlen(s);
	if (n == 0 || n > 80)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(B64, s[i]);

		if (!p || !s[i])
			goto bad;
		acc = acc << 6 | (uint32_t)(p - B64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k + 1 >= sizeof(raw))
				goto bad;
			raw[k++] = (char)((acc >> bits) & 0xff);
		}
	}
	raw[k] = '\0';
	dot = strchr(raw, '.');
	if (!dot)
		goto bad;
	*dot = '\0';
	if (cps_parse_decimal(raw, &out->at_us) || cps_parse_decimal(dot + 1, &out->id))
		goto bad;
	out->has = 1;
	return 0;
bad:
	cps_http_reply_error(resp, 400, "query parameter 'cursor' is not a cursor this API gave");
	return -1;
}

void cps_api_reply_result(struct cps_http_response *resp, int rc, int why, const char *errstr,
                          json_t *body)
{
	if (rc != CPS_OK)
		cps_api_reply_store_error(resp, rc, why, errstr);
	else
		cps_http_reply_json(resp, 200, body);
}

int cps_api_query_name(const struct cps_http_request *req, struct cps_http_response *resp,
                       const char *name, const char **out)
{
	*out = cps_http_query(req, name);
	if (*out && !cps_api_name_ok(*out)) {
		cps_http_reply_error(
		    resp, 400,
		    "query parameter '%s' must be a name of [a-z0-9_], 1 to 63 characters", name);
		return -1;
	}
	return 0;
}

void cps_api_reply_page(struct cps_http_response *resp, const char *what, int rc,
                        const char *errstr, json_t *items, const struct cps_steward_cursor *next)
{
	char cur[128];

	if (rc != CPS_OK) {
		cps_log_warn(FAC, "%s: %s", what, errstr);
		cps_api_reply_store_error(resp, rc, 0, errstr);
	} else if (next->has && cps_api_cursor_encode(next, cur, sizeof(cur)) == 0) {
		cps_http_reply_json(resp, 200,
		                    json_pack("{s:o, s:s}", "items", items, "next_cursor", cur));
	} else {
		cps_http_reply_json(resp, 200,
		                    json_pack("{s:o, s:n}", "items", items, "next_cursor"));
	}
}

int cps_api_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* cps_steward_encode_fn: the API's one encoder, shared by the HTTP threads. */
int cps_api_encode_unified(void *ctx, const struct cps_key_state *st,
                           const struct cps_reconcile_outcome *o, int64_t now_ms,
                           struct cps_buf *out, char *errstr, size_t errstr_size)
{
	struct cps_api *api = ctx;
	int rc;

	pthread_mutex_lock(&api->uni_mu);
	rc = cps_unified_encode(api->uni, st, o, now_ms, out, errstr, errstr_size);
	pthread_mutex_unlock(&api->uni_mu);
	return rc == CPS_ERR_RETRIABLE ? rc : rc ? CPS_ERR_INVALID : CPS_OK;
}

const struct cps_rules *cps_api_rules_take(struct cps_api *api)
{
	return api->rules_live ? cps_live_take(api->rules_live) : api->rules;
}

void cps_api_rules_give(struct cps_api *api, const struct cps_rules *r)
{
	if (api->rules_live)
		cps_live_give(api->rules_live, (void *)r);
}
