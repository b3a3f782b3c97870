/*
 * The HTTP access settings of a loaded config (http.tokens,
 * http.open_routes, http.tls_cert_file, http.tls_key_file), checked and
 * shaped for cps_http_conf and cps_http_set_tokens (api.h).
 */
#include "api/api.h"

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

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
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "key 'http.tokens.%s.token': a token of at least 16 characters is required",
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
