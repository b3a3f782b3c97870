/*
 * HTTP bearer tokens: the token list (replaceable while serving, secrets
 * wiped when freed) and the lookup of a request's token, in time that
 * depends only on the presented length.
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cps_http_tokens_free(struct token *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		if (t[i].token) {
			explicit_bzero(t[i].token, t[i].len);
			free(t[i].token);
		}
	}
	free(t);
}

int cps_http_set_tokens(struct cps_http_server *srv, const struct cps_http_token *tokens, size_t n,
                        char *errstr, size_t errstr_size)
{
	struct token *t, *old;
	size_t i, j, n_old;
	int rc;

	t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "out of memory copying tokens");
	for (i = 0; i < n; i++) {
		const struct cps_http_token *in = &tokens[i];
		size_t len = in->token ? strlen(in->token) : 0;

		if (!in->name || !*in->name) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "token #%zu has no name", i + 1);
			goto out_free;
		}
		if (len < MIN_TOKEN_LEN || len > MAX_TOKEN_LEN) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "token #%zu must be %d to %d characters long", i + 1,
			                MIN_TOKEN_LEN, MAX_TOKEN_LEN);
			goto out_free;
		}
		if (strpbrk(in->token, " \t\r\n")) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "token #%zu contains whitespace", i + 1);
			goto out_free;
		}
		if (in->roles == 0 || (in->roles & ~(unsigned)CPS_ROLE_ANY)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "token #%zu needs roles within viewer, steward, operator",
			                i + 1);
			goto out_free;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(t[j].name, in->name) == 0 ||
			    strcmp(t[j].token, in->token) == 0) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "tokens #%zu and #%zu share a name or a secret",
				                j + 1, i + 1);
				goto out_free;
			}
		}
		t[i].name = strdup(in->name);
		t[i].token = strdup(in->token);
		t[i].len = len;
		t[i].roles = in->roles;
		if (!t[i].name || !t[i].token) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                "out of memory copying tokens");
			goto out_free;
		}
	}
	pthread_mutex_lock(&srv->tokens_lock);
	old = srv->tokens;
	n_old = srv->n_tokens;
	srv->tokens = t;
	srv->n_tokens = n;
	pthread_mutex_unlock(&srv->tokens_lock);
	cps_http_tokens_free(old, n_old);
	return CPS_OK;

out_free:
	cps_http_tokens_free(t, n);
	return rc;
}

/* Time depends on the presented length only, never on where it differs
 * from a configured token or which one it matches. */
static int token_equal(const char *given, size_t glen, const struct token *t)
{
	volatile unsigned char diff = glen != t->len;
	size_t i;

	for (i = 0; i < glen; i++)
		diff |= (unsigned char)given[i] ^ (unsigned char)t->token[i % t->len];
	return diff == 0;
}

/* Looks the bearer token up; fills rs->principal and rs->roles.
 * Returns 1 found, 0 not found, -1 no bearer credentials at all. */
int cps_http_authenticate(struct http_request_state *rs)
{
	struct cps_http_server *srv = rs->server;
	const char *h =
	    MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *tok;
	size_t len, i, found = (size_t)-1;

	if (!h)
		return -1;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	if (len == 0 || len > MAX_TOKEN_LEN)
		return 0;
	pthread_mutex_lock(&srv->tokens_lock);
	for (i = 0; i < srv->n_tokens; i++) {
		size_t eq = (size_t)token_equal(tok, len, &srv->tokens[i]);

		/* no early exit: every token is compared */
		found = (found & (eq - 1)) | (i & (0 - eq));
	}
	if (found != (size_t)-1) {
		rs->principal = strdup(srv->tokens[found].name);
		rs->roles = srv->tokens[found].roles;
	}
	pthread_mutex_unlock(&srv->tokens_lock);
	return found != (size_t)-1 && rs->principal ? 1 : 0;
}
