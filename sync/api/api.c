/*
 * The steward API's handle (api.h, api_int.h): lifecycle, the in-flight gate
 * that lets the engine stop what the API borrows, helpers shared by the
 * route files (api_conflicts.c, api_records.c, api_audit.c) and the HTTP
 * access settings (tokens, open routes, TLS) read from the config.
 */
#include "api/api_int.h"

#include "base/common.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cps_api_new(const struct cps_api_conf *conf, struct cps_api **out, char *errstr,
                size_t errstr_size)
{
	struct cps_api *api = calloc(1, sizeof(*api));
	struct cps_unified_conf uc = {
	    .catalog = conf->catalog,
	    .framing = conf->unified_framing,
	    .registry = conf->registry,
	    .topic_prefix = conf->unified_topic_prefix,
	};
	int rc;

	*out = NULL;
	if (!api)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&api->uni_mu, NULL);
	pthread_mutex_init(&api->gate_mu, NULL);
	pthread_cond_init(&api->gate_cv, NULL);
	api->catalog = conf->catalog;
	api->rules = conf->rules;
	api->publisher = conf->publisher;
	api->topic_prefix =
	    strdup(conf->unified_topic_prefix ? conf->unified_topic_prefix : "cpsync.unified.");
	if (!api->topic_prefix) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	rc = cps_steward_store_new(conf->conninfo, 4, &api->store, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	rc = cps_unified_new(&uc, &api->uni, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	*out = api;
	return CPS_OK;
fail:
	cps_api_free(api);
	return rc;
}

int cps_api_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                     size_t errstr_size)
{
	int rc = cps_api_conflicts_register(api, server, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_api_records_register(api, server, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_api_audit_register(api, server, errstr, errstr_size);
	return rc;
}

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

void cps_api_free(struct cps_api *api)
{
	if (!api)
		return;
	cps_api_quiesce(api);
	cps_unified_free(api->uni);
	cps_steward_store_free(api->store);
	free(api->topic_prefix);
	pthread_cond_destroy(&api->gate_cv);
	pthread_mutex_destroy(&api->gate_mu);
	pthread_mutex_destroy(&api->uni_mu);
	free(api);
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

static int parse_int(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (!s || !*s || strlen(s) > 18)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return 0;
}

int cps_api_query_int(const struct cps_http_request *req, struct cps_http_response *resp,
                      const char *name, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	const char *s = cps_http_query(req, name);

	if (!s) {
		*out = def;
		return 0;
	}
	if (parse_int(s, out) || *out < min || *out > max) {
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
	if (parse_int(raw, &out->at_us) || parse_int(dot + 1, &out->id))
		goto bad;
	out->has = 1;
	return 0;
bad:
	cps_http_reply_error(resp, 400, "query parameter 'cursor' is not a cursor this API gave");
	return -1;
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

/* ---- access settings ------------------------------------------------------ */

int cps_api_auth_from_config(const struct cps_config *cfg, struct cps_api_auth *out, char *errstr,
                             size_t errstr_size)
{
	const struct cps_config_node *map = cps_config_get_map(cfg, "http.tokens");
	const struct cps_config_node *open = cps_config_get_list(cfg, "http.open_routes");
	const char *cert = cps_config_get_string(cfg, "http.tls_cert_file");
	const char *key = cps_config_get_string(cfg, "http.tls_key_file");
	size_t n = map ? map->count : 0, n_open = open ? open->count : 0;

	memset(out, 0, sizeof(*out));
	out->tokens = calloc(n ? n : 1, sizeof(*out->tokens));
	out->open_routes = calloc(n_open + 1, sizeof(*out->open_routes));
	if (!out->tokens || !out->open_routes) {
		cps_api_auth_release(out);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const struct cps_config_node *t = map->children[i];
		const char *token = cps_config_node_string(t, "token", NULL);
		const char *role = cps_config_node_string(t, "role", "viewer");

		if (!token || strlen(token) < 16) {
			cps_api_auth_release(out);
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "key 'http.tokens.%s.token': a token of at least 16 "
			                  "characters is required",
			                  t->key);
		}
		out->tokens[i].name = t->key;
		out->tokens[i].token = token;
		out->tokens[i].roles = !strcmp(role, "steward")    ? CPS_ROLE_STEWARD
		                       : !strcmp(role, "operator") ? CPS_ROLE_OPERATOR
		                                                   : CPS_ROLE_VIEWER;
	}
	out->n_tokens = n;
	for (size_t i = 0; i < n_open; i++)
		out->open_routes[i] = open->children[i]->value;
	if ((cert && *cert) != (key && *key)) {
		cps_api_auth_release(out);
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "keys 'http.tls_cert_file' and 'http.tls_key_file' go together");
	}
	out->tls_cert_file = cert && *cert ? cert : NULL;
	out->tls_key_file = key && *key ? key : NULL;
	return CPS_OK;
}

void cps_api_auth_release(struct cps_api_auth *a)
{
	free(a->tokens);
	free(a->open_routes);
	memset(a, 0, sizeof(*a));
}
