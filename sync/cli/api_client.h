/*
 * A small client of cpsync's own HTTP API (docs/openapi.yaml) for the
 * terminal commands (cli_api.c): libcurl with timeouts, a bearer token,
 * JSON bodies in and out, and one-line error messages that never echo
 * the request's values.
 */
#ifndef CPS_API_CLIENT_H
#define CPS_API_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#define CPS_API_CLIENT_DEFAULT_URL "http://127.0.0.1:8080"

struct cps_api_client {
	char *base_url;      /* without a trailing '/' */
	char *token;         /* NULL = no Authorization header */
	long timeout_ms;     /* whole request */
	long connect_ms;     /* connection set-up */
	size_t max_response; /* bytes; larger replies are an error */
	void *curl;          /* CURL *, reused between calls */
	char *ca_file;       /* PEM CA file for https:// (NULL: the system's) */
};

/* url: NULL = $CPSYNC_URL, else CPS_API_CLIENT_DEFAULT_URL; token: NULL =
 * $CPSYNC_TOKEN, else none. timeout_ms 0 = 30000. Strings are copied. */
int cps_api_client_init(struct cps_api_client *c, const char *url, const char *token,
                        long timeout_ms, char *errstr, size_t errstr_size);
void cps_api_client_release(struct cps_api_client *c);
/* Trusts the CAs of PEM file `path` (copied) for https:// URLs instead of
 * the system's; NULL or "" keeps the system's. CPS_ERR_INVALID when the file
 * cannot be read. */
int cps_api_client_set_ca_file(struct cps_api_client *c, const char *path, char *errstr,
                               size_t errstr_size);

/* One request. `path` starts with '/' and is already escaped (see
 * cps_api_client_escape); `body` (borrowed, may be NULL) is sent as JSON.
 * Returns CPS_OK when an HTTP answer came (whatever its status): *status is
 * its code and *doc its JSON (NULL when the body was not JSON; the caller
 * decrefs). Returns CPS_ERR_RETRIABLE when the server could not be reached
 * or did not answer in time. */
int cps_api_client_call(struct cps_api_client *c, const char *method, const char *path,
                        json_t *body, long *status, json_t **doc, char *errstr, size_t errstr_size);

/* The one-line message for a non-2xx answer: the API's error.message, with
 * a hint about the token and its role on 401 and 403. */
void cps_api_client_error(long status, const json_t *doc, char *buf, size_t size);

/* Percent-escapes `s` for a path segment or a query value; caller frees
 * (NULL when out of memory). */
char *cps_api_client_escape(const char *s);

#endif
