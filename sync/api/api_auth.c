/*
 * The HTTP access settings of a loaded config (http.tokens,
 * http.open_routes, http.tls_cert_file, http.tls_key_file), checked and
 * shaped for cps_http_conf and cps_http_set_tokens (api.h). A token is its
 * secret or the secret's SHA-256; a steward's or viewer's may carry regions.
 */
#include "api/api.h"

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

/* http.tokens.<name>.regions joined with commas into *out (NULL: none);
 * each must be a region-code prefix of 1 to 6 digits. */
static int token_regions(const struct cps_config_node *t, unsigned roles, char **out, char *errstr,
                         size_t errstr_size)
{
	const struct cps_config_node *list = cps_config_node_find(t, "regions");
	char *joined;

	*out = NULL;
	if (!list || list->count == 0)
		return CPS_OK;
	if (roles & CPS_ROLE_OPERATOR)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key 'http.tokens.%s.regions': operators are never confined to "
		                  "regions (give regions to a steward or viewer token)",
		                  t->key);
	if (list->count > 64)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key 'http.tokens.%s.regions': at most 64 prefixes", t->key);
	joined = calloc(list->count, 7); /* 6 digits and a comma or the NUL each */
	if (!joined)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < list->count; i++) {
		const char *p = list->children[i]->value;
		size_t n = p ? strlen(p) : 0;

		if (n < 1 || n > 6 || strspn(p, "0123456789") != n) {
			free(joined);
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "key 'http.tokens.%s.regions': item %zu is not a region-code "
			    "prefix (1 to 6 digits, e.g. 4403 or 441521)",
			    t->key, i + 1);
		}
		if (i)
			strcat(joined, ",");
		strcat(joined, p);
	}
	*out = joined;
	return CPS_OK;
}

/* One token's settings into *tok (and its joined regions into *regions). */
static int token_from_config(const struct cps_config_node *t, struct cps_http_token *tok,
                             char **regions, char *errstr, size_t errstr_size)
{
	const char *token = cps_config_node_string(t, "token", NULL);
	const char *hash = cps_config_node_string(t, "token_sha256", NULL);
	const char *role = cps_config_node_string(t, "role", "viewer");

	if (token && hash)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key 'http.tokens.%s': give token or token_sha256, not both",
		                  t->key);
	if (!hash && (!token || strlen(token) < 16))
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "key 'http.tokens.%s.token': a token of at least 16 characters is required "
		    "(or its SHA-256 as token_sha256)",
		    t->key);
	if (hash && (strlen(hash) != 64 || strspn(hash, "0123456789abcdefABCDEF") != 64))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key 'http.tokens.%s.token_sha256': 64 hexadecimal digits are "
		                  "required (sha256sum of the token)",
		                  t->key);
	tok->name = t->key;
	tok->token = token;
	tok->token_sha256 = hash;
	tok->roles = !strcmp(role, "steward")    ? CPS_ROLE_STEWARD
	             : !strcmp(role, "operator") ? CPS_ROLE_OPERATOR
	                                         : CPS_ROLE_VIEWER;
	if (token_regions(t, tok->roles, regions, errstr, errstr_size) != CPS_OK)
		return CPS_ERR_INVALID;
	tok->regions = *regions;
	return CPS_OK;
}

int cps_api_auth_from_config(const struct cps_config *cfg, struct cps_api_auth *out, char *errstr,
                             size_t errstr_size)
{
	const struct cps_config_node *map = cps_config_get_map(cfg, "http.tokens");
	const struct cps_config_node *open = cps_config_get_list(cfg, "http.open_routes");
	const char *cert = cps_config_get_string(cfg, "http.tls_cert_file");
	const char *key = cps_config_get_string(cfg, "http.tls_key_file");
	size_t n = map ? map->count : 0, n_open = open ? open->count : 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->tokens = calloc(n ? n : 1, sizeof(*out->tokens));
	out->regions = calloc(n ? n : 1, sizeof(*out->regions));
	out->open_routes = calloc(n_open + 1, sizeof(*out->open_routes));
	if (!out->tokens || !out->regions || !out->open_routes) {
		cps_api_auth_release(out);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	out->n_tokens = n;
	for (size_t i = 0; i < n; i++) {
		rc = token_from_config(map->children[i], &out->tokens[i], &out->regions[i], errstr,
		                       errstr_size);
		if (rc != CPS_OK) {
			cps_api_auth_release(out);
			return rc;
		}
	}
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
	for (size_t i = 0; a->regions && i < a->n_tokens; i++)
		free(a->regions[i]);
	free(a->regions);
	free(a->tokens);
	free(a->open_routes);
	memset(a, 0, sizeof(*a));
}
