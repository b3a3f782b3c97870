/*
 * The HTTP API client of the terminal commands (api_client.h): one reused
 * libcurl easy handle, bearer token, JSON in and out, bounded replies and
 * error messages that name the failing thing but never the request's data.
 */
#include "cli/api_client.h"

#include "base/buf.h"
#include "base/common.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_MS 5000L
#define DEFAULT_MAX_REPLY  ((size_t)64 << 20)

static int curl_ready;

int cps_api_client_init(struct cps_api_client *c, const char *url, const char *token,
                        long timeout_ms, char *errstr, size_t errstr_size)
{
	size_t n;

	memset(c, 0, sizeof(*c));
	if (!url || !*url)
		url = getenv("CPSYNC_URL");
	if (!url || !*url)
		url = CPS_API_CLIENT_DEFAULT_URL;
	if (!token || !*token)
		token = getenv("CPSYNC_TOKEN");
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "bad --url: it must start with http:// or https://");
	if (token && strpbrk(token, "\r\n"))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "bad token: it holds a line break");
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "libcurl could not initialise");
		curl_ready = 1;
	}
	c->base_url = strdup(url);
	c->token = token && *token ? strdup(token) : NULL;
	c->curl = curl_easy_init();
	if (!c->base_url || (token && *token && !c->token) || !c->curl) {
		cps_api_client_release(c);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	c->connect_ms = DEFAULT_CONNECT_MS < c->timeout_ms ? DEFAULT_CONNECT_MS : c->timeout_ms;
	c->max_response = DEFAULT_MAX_REPLY;
	return CPS_OK;
}

void cps_api_client_release(struct cps_api_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->base_url);
	free(c->ca_file);
	if (c->token) {
		/* not memset: a store just before free may be optimised away */
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	memset(c, 0, sizeof(*c));
}

int cps_api_client_set_ca_file(struct cps_api_client *c, const char *path, char *errstr,
                               size_t errstr_size)
{
	char *copy;

	if (!path || !*path)
		return CPS_OK;
	if (access(path, R_OK) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "cannot read the CA file '%s': %s", path, strerror(errno));
	copy = strdup(path);
	if (!copy)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	free(c->ca_file);
	c->ca_file = copy;
	return CPS_OK;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct cps_buf *b = userdata;

	if (cps_buf_append(b, p, size * nmemb) != 0)
		return 0; /* beyond the cap: curl fails with CURLE_WRITE_ERROR */
	return size * nmemb;
}

int cps_api_client_call(struct cps_api_client *c, const char *method, const char *path,
                        json_t *body, long *status, json_t **doc, char *errstr, size_t errstr_size)
{
	struct curl_slist *headers = NULL;
	struct cps_buf reply, url;
	char *text = NULL;
	CURL *h = c->curl;
	CURLcode cc;
	int rc = CPS_OK;

	*status = 0;
	*doc = NULL;
	cps_buf_init(&reply, c->max_response);
	cps_buf_init(&url, 0);
	if (cps_buf_printf(&url, "%s%s", c->base_url, path) != 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, (const char *)url.data);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (c->token) {
		struct cps_buf a;

		cps_buf_init(&a, 0);
		if (cps_buf_printf(&a, "Authorization: Bearer %s", c->token) == 0)
			headers = curl_slist_append(headers, (const char *)a.data);
		cps_buf_release(&a);
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out;
		}
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR)
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "the reply of '%s' is larger than %zu bytes", c->base_url,
			                c->max_response);
		else
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                "cannot reach cpsync at '%s': %s", c->base_url,
			                curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	/* JSON_ALLOW_NUL: Avro JSON writes a bytes value one character a byte,
	 * so a decimal with a zero byte (0.00, 2.56) holds "\u0000" */
	if (reply.len > 0)
		*doc = json_loadb((const char *)reply.data, reply.len, JSON_ALLOW_NUL, NULL);
out:
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	free(text);
	cps_buf_release(&reply);
	cps_buf_release(&url);
	return rc;
}

void cps_api_client_error(long status, const json_t *doc, char *buf, size_t size)
{
	const char *msg = NULL;
	json_t *err = doc ? json_object_get(doc, "error") : NULL;

	if (err)
		msg = json_string_value(json_object_get(err, "message"));
	if (!msg)
		msg = status == 404 ? "not found" : "the server gave no error message";
	if (status == 401)
		snprintf(buf, size,
		         "%s (HTTP 401: give a valid token with --token or $CPSYNC_TOKEN)", msg);
	else if (status == 403)
		snprintf(
		    buf, size,
		    "%s (HTTP 403: the token's role may not do this; stewards handle conflicts and see records unmasked, operators handle dead letters and connectors)",
		    msg);
	else
		snprintf(buf, size, "%s (HTTP %ld)", msg, status);
}

char *cps_api_client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}
