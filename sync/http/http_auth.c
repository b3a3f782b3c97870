/*
 * HTTP bearer tokens: the token list (replaceable while serving, secrets
 * wiped when freed) and the lookup of a request's token, in time that
 * depends only on the presented length. A token is configured as its
 * secret or as the SHA-256 of it; either may confine its holder to regions.
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"
#include "base/sha256.h"

#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REGIONS 64 /* prefixes of one token */

void cps_http_tokens_free(struct token *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].regions);
		if (t[i].token) {
			explicit_bzero(t[i].token, t[i].len);
			free(t[i].token);
		}
		explicit_bzero(t[i].sha256, sizeof(t[i].sha256));
	}
	free(t);
}

static void sha256_hex(const char *data, size_t len, char hex[65])
{
	struct cps_sha256 s;

	cps_sha256_init(&s);
	cps_sha256_update(&s, data, len);
	cps_sha256_final_hex(&s, hex);
	explicit_bzero(&s, sizeof(s));
}

/* Region prefixes: comma-separated, each 1 to 6 digits, at most MAX_REGIONS. */
static int regions_ok(const char *r)
{
	size_t digits = 0, n = 1;

	for (; *r; r++) {
		if (*r == ',') {
			if (digits == 0)
				return 0;
			digits = 0;
			n++;
		} else if (!isdigit((unsigned char)*r) || ++digits > 6) {
			return 0;
		}
	}
	return digits > 0 && n <= MAX_REGIONS;
}

/* Checks token #i (1-based in messages) and copies it into *t. */
static int token_copy(const struct cps_http_token *in, size_t i, struct token *t, char *errstr,
                      size_t errstr_size)
{
	size_t len = in->token ? strlen(in->token) : 0;
	int hashed = in->token_sha256 != NULL;

	if (!in->name || !*in->name)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "token #%zu has no name",
		                  i);
	if (hashed == (in->token != NULL))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "token #%zu needs exactly one of a token and its SHA-256", i);
	if (!hashed && (len < MIN_TOKEN_LEN || len > MAX_TOKEN_LEN))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "token #%zu must be %d to %d characters long", i, MIN_TOKEN_LEN,
		                  MAX_TOKEN_LEN);
	if (!hashed && strpbrk(in->token, " \t\r\n"))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "token #%zu contains whitespace", i);
	if (hashed && (strlen(in->token_sha256) != 64 ||
	               strspn(in->token_sha256, "0123456789abcdefABCDEF") != 64))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "token #%zu: its SHA-256 must be 64 hexadecimal digits", i);
	if (in->roles == 0 || (in->roles & ~(unsigned)CPS_ROLE_ANY))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "token #%zu needs roles within viewer, steward, operator", i);
	if (in->regions && *in->regions && (in->roles & CPS_ROLE_OPERATOR))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "token #%zu: an operator is never confined to regions", i);
	if (in->regions && *in->regions && !regions_ok(in->regions))
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "token #%zu: regions must be region-code prefixes of 1 to 6 digits (at most %d)",
		    i, MAX_REGIONS);
	t->roles = in->roles;
	t->len = len;
	if (hashed) {
		for (size_t k = 0; k < 64; k++)
			t->sha256[k] = (char)tolower((unsigned char)in->token_sha256[k]);
		t->sha256[64] = '\0';
	} else {
		sha256_hex(in->token, len, t->sha256);
		t->token = strdup(in->token);
	}
	t->name = strdup(in->name);
	t->regions = in->regions && *in->regions ? strdup(in->regions) : NULL;
	if (!t->name || (!hashed && !t->token) || (in->regions && *in->regions && !t->regions))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "out of memory copying tokens");
	return CPS_OK;
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
		rc = token_copy(&tokens[i], i + 1, &t[i], errstr, errstr_size);
		if (rc)
			goto out_free;
		/* secrets compared by their digests: a token and another's hash too */
		for (j = 0; j < i; j++) {
			if (strcmp(t[j].name, t[i].name) == 0 ||
			    strcmp(t[j].sha256, t[i].sha256) == 0) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "tokens #%zu and #%zu share a name or a secret",
				                j + 1, i + 1);
				goto out_free;
			}
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

/* A hashed token: the presented token's digest against the configured one,
 * all 64 digits compared whatever differs. */
static int digest_equal(const char given[65], const struct token *t)
{
	volatile unsigned char diff = 0;
	size_t i;

	for (i = 0; i < 64; i++)
		diff |= (unsigned char)given[i] ^ (unsigned char)t->sha256[i];
	return diff == 0;
}

/* Looks the bearer token up; fills rs->principal, rs->roles and rs->regions.
 * Returns 1 found, 0 not found, -1 no bearer credentials at all. */
int cps_http_authenticate(struct http_request_state *rs)
{
	struct cps_http_server *srv = rs->server;
	const char *h =
	    MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *tok;
	char digest[65];
	size_t len, i, found = (size_t)-1;
	int ok;

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
	/* hashed always, so the time does not tell whether any token is hashed */
	sha256_hex(tok, len, digest);
	pthread_mutex_lock(&srv->tokens_lock);
	for (i = 0; i < srv->n_tokens; i++) {
		const struct token *t = &srv->tokens[i];
		size_t eq = (size_t)(t->token ? token_equal(tok, len, t) : digest_equal(digest, t));

		/* no early exit: every token is compared */
		found = (found & (eq - 1)) | (i & (0 - eq));
	}
	if (found != (size_t)-1) {
		const struct token *t = &srv->tokens[found];

		rs->principal = strdup(t->name);
		rs->roles = t->roles;
		rs->regions = t->regions ? strdup(t->regions) : NULL;
		/* out of memory must not widen a scoped token to every region */
		ok = rs->principal && (!t->regions || rs->regions);
	} else {
		ok = 0;
	}
	pthread_mutex_unlock(&srv->tokens_lock);
	explicit_bzero(digest, sizeof(digest));
	if (!ok) {
		free(rs->principal);
		free(rs->regions);
		rs->principal = rs->regions = NULL;
		rs->roles = 0;
	}
	return ok;
}
