/*
 * Confluent-compatible schema-registry client (libcurl) and the
 * registry-free id source (see registry.h). Every id costs at most one HTTP
 * request: (subject, fingerprint) -> id and id -> schema are cached under
 * one mutex, shared by all workers; requests run without the lock held.
 */
#include "codec/registry.h"
#include "base/buf.h"
#include "base/common.h"

#include <curl/curl.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define DEFAULT_TIMEOUT_MS    5000L
#define MAX_RESPONSE_BYTES    ((size_t)8 << 20) /* the largest schema we accept */
#define MAX_MESSAGE_CHARS     200               /* of a registry error message */
#define FREE_MODE_HINT        "registry-free mode: see schemas/schema-ids.json"

struct subject_id {
	char *subject;
	uint64_t fingerprint;
	int32_t id;
};

struct id_schema {
	int32_t id;
	struct cps_schema *schema; /* borrowed: the catalog's, or in `owned` */
};

struct cps_registry {
	char *url; /* without trailing '/'; NULL = registry-free */
	long timeout_ms;
	char *username;
	char *password;
	char *ca_file;
	bool lookup_only;            /* schemas.registry.auto_register: false */
	struct cps_catalog *catalog; /* borrowed, may be NULL with a registry */

	pthread_mutex_t lock; /* guards everything below and calls on `catalog` */
	struct subject_id *by_subject;
	size_t n_by_subject, cap_by_subject;
	struct id_schema *by_id;
	size_t n_by_id, cap_by_id;
	struct cps_schema **owned; /* fetched schemas no catalog took */
	size_t n_owned, cap_owned;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int cps_registry_new(const struct cps_registry_conf *conf, struct cps_catalog *catalog,
                     struct cps_registry **out, char *errstr, size_t errstr_size)
{
	struct cps_registry *r;
	size_t n;

	*out = NULL;
	if (!conf)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "registry configuration missing");
	if ((!conf->url || !*conf->url) && !catalog)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "registry-free mode needs a schema catalog with schema-ids.json");
	if (conf->url && *conf->url && strncmp(conf->url, "http://", 7) != 0 &&
	    strncmp(conf->url, "https://", 8) != 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "registry url must start with http:// or https://");
	if (conf->timeout_ms < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "registry timeout %ld ms is negative", conf->timeout_ms);
	if (conf->url && *conf->url) {
		pthread_once(&curl_once, curl_init_once);
		if (curl_init_result != CURLE_OK)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "curl_global_init failed: %s",
			                  curl_easy_strerror(curl_init_result));
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto out_of_memory;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		goto out_of_memory;
	}
	r->catalog = catalog;
	r->lookup_only = conf->lookup_only;
	r->timeout_ms = conf->timeout_ms ? conf->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (conf->url && *conf->url) {
		r->url = strdup(conf->url);
		if (!r->url)
			goto out_free;
		n = strlen(r->url);
		while (n > 0 && r->url[n - 1] == '/')
			r->url[--n] = 0;
	}
	r->username = dup_or_null(conf->username);
	r->password = conf->password ? strdup(conf->password) : NULL;
	r->ca_file = dup_or_null(conf->ca_file);
	if ((conf->username && *conf->username && !r->username) ||
	    (conf->password && !r->password) || (conf->ca_file && *conf->ca_file && !r->ca_file))
		goto out_free;
	*out = r;
	return CPS_OK;

out_free:
	cps_registry_free(r);
out_of_memory:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

void cps_registry_free(struct cps_registry *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n_by_subject; i++)
		free(r->by_subject[i].subject);
	free(r->by_subject);
	free(r->by_id);
	for (i = 0; i < r->n_owned; i++)
		cps_schema_free(r->owned[i]);
	free(r->owned);
	free(r->url);
	free(r->username);
	if (r->password) {
		/* not memset: a store just before free may be optimised away */
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->ca_file);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- HTTP ---------------------------------------------------------------- */

static size_t collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct cps_buf *b = userdata;
	size_t n = size * nmemb;

	if (cps_buf_append(b, data, n) < 0)
		return 0; /* past the cap: curl fails with CURLE_WRITE_ERROR */
	return n;
}

/* Copies the registry's message into dst as one printable line, truncated. */
static void copy_message(char *dst, size_t dst_size, const char *msg)
{
	size_t i, j = 0;

	for (i = 0; msg[i] && j + 1 < dst_size && i < MAX_MESSAGE_CHARS; i++)
		dst[j++] = isprint((unsigned char)msg[i]) ? msg[i] : ' ';
	dst[j] = 0;
}

/* The error of a non-2xx answer: the registry's {"error_code", "message"}
 * when the body has them. 5xx, 408 and 429 are retriable, other 4xx not. */
static int http_status_error(long status, const char *method, const char *path,
                             const struct cps_buf *body, long long *code_out, char *errstr,
                             size_t errstr_size)
{
	char msg[MAX_MESSAGE_CHARS + 1] = "";
	long long code = 0;
	json_t *j;
	int rc;

	j = json_loadb((const char *)body->data, body->len, 0, NULL);
	if (json_is_object(j)) {
		json_t *m = json_object_get(j, "message");

		if (json_is_integer(json_object_get(j, "error_code")))
			code = json_integer_value(json_object_get(j, "error_code"));
		if (json_is_string(m))
			copy_message(msg, sizeof(msg), json_string_value(m));
	}
	json_decref(j);
	if (code_out)
		*code_out = code;
	if (status >= 500 || status == 408 || status == 429)
		rc = CPS_ERR_RETRIABLE;
	else
		rc = CPS_ERR_INVALID;
	if (code || *msg)
		return cps_seterr(rc, errstr, errstr_size,
		                  "registry %s \"%s\" failed: HTTP %ld, error_code %lld: %s",
		                  method, path, status, code, msg);
	return cps_seterr(rc, errstr, errstr_size, "registry %s \"%s\" failed: HTTP %ld", method,
	                  path, status);
}

static int curl_error(CURLcode cc, const char *method, const char *path, long timeout_ms,
                      const char *detail, char *errstr, size_t errstr_size)
{
	const char *why = *detail ? detail : curl_easy_strerror(cc);
	int rc;

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "registry %s \"%s\" timed out after %ld ms", method, path,
		                  timeout_ms);
	case CURLE_WRITE_ERROR:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "registry %s \"%s\" failed: response larger than %zu bytes",
		                  method, path, MAX_RESPONSE_BYTES);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_LOGIN_DENIED:
		rc = CPS_ERR_FATAL; /* configuration: retrying cannot help */
		break;
	default:
		rc = CPS_ERR_RETRIABLE; /* network, TLS handshake, DNS: may pass */
		break;
	}
	return cps_seterr(rc, errstr, errstr_size, "registry %s \"%s\" failed: %s", method, path,
	                  why);
}

/* One request to {url}{path}; on 2xx *out holds the parsed JSON body, and
 * *code_out (may be NULL) the registry's error_code of a 4xx/5xx answer (0:
 * none). @locks must NOT hold r->lock (requests are slow). */
static int registry_call(struct cps_registry *r, const char *method, const char *path,
                         const char *body, json_t **out, long long *code_out, char *errstr,
                         size_t errstr_size)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL, *h;
	struct cps_buf resp;
	json_error_t jerr;
	char *url = NULL;
	CURL *curl = NULL;
	CURLcode cc;
	long status = 0;
	int rc;

	*out = NULL;
	cps_buf_init(&resp, MAX_RESPONSE_BYTES);
	if (asprintf(&url, "%s%s", r->url, path) < 0) {
		url = NULL;
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	curl = curl_easy_init();
	headers =
	    curl_slist_append(NULL, "Accept: " REGISTRY_CONTENT_TYPE
	                            ", application/vnd.schemaregistry+json, application/json");
	h = headers && body ? curl_slist_append(headers, "Content-Type: " REGISTRY_CONTENT_TYPE)
	                    : headers;
	if (!curl || !h) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* we run in worker threads */
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	if (r->username) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, r->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, r->password ? r->password : "");
	}
	if (r->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, r->ca_file);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}

	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		rc = curl_error(cc, method, path, r->timeout_ms, curl_err, errstr, errstr_size);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		rc = http_status_error(status, method, path, &resp, code_out, errstr, errstr_size);
		goto out;
	}
	*out = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "registry %s \"%s\" answered HTTP %ld without a JSON object",
		                method, path, status);
		goto out;
	}
	rc = CPS_OK;
out:
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	free(url);
	cps_buf_release(&resp);
	return rc;
}

static int registry_request(struct cps_registry *r, const char *method, const char *path,
                            const char *body, json_t **out, char *errstr, size_t errstr_size)
{
	return registry_call(r, method, path, body, out, NULL, errstr, errstr_size);
}

/* ---- caches (@locks r->lock MUST be held) --------------------------------- */

static struct subject_id *find_subject_id(struct cps_registry *r, const char *subject, uint64_t fp)
{
	size_t i;

	for (i = 0; i < r->n_by_subject; i++)
		if (r->by_subject[i].fingerprint == fp &&
		    strcmp(r->by_subject[i].subject, subject) == 0)
			return &r->by_subject[i];
	return NULL;
}

static struct cps_schema *find_id_schema(struct cps_registry *r, int32_t id)
{
	size_t i;

	for (i = 0; i < r->n_by_id; i++)
		if (r->by_id[i].id == id)
			return r->by_id[i].schema;
	return NULL;
}

/* Remembers id -> schema (the first answer wins); -1 without memory. */
static int remember_id_schema(struct cps_registry *r, int32_t id, struct cps_schema *s)
{
	if (find_id_schema(r, id))
		return 0;
	if (cps_grow(&r->by_id, &r->cap_by_id, r->n_by_id + 1, sizeof(*r->by_id)) < 0)
		return -1;
	r->by_id[r->n_by_id].id = id;
	r->by_id[r->n_by_id].schema = s;
	r->n_by_id++;
	return 0;
}

static int remember_subject_id(struct cps_registry *r, const char *subject, uint64_t fp, int32_t id)
{
	char *copy;

	if (find_subject_id(r, subject, fp))
		return 0;
	if (cps_grow(&r->by_subject, &r->cap_by_subject, r->n_by_subject + 1,
	             sizeof(*r->by_subject)) < 0)
		return -1;
	copy = strdup(subject);
	if (!copy)
		return -1;
	r->by_subject[r->n_by_subject].subject = copy;
	r->by_subject[r->n_by_subject].fingerprint = fp;
	r->by_subject[r->n_by_subject].id = id;
	r->n_by_subject++;
	return 0;
}

/* ---- the API ------------------------------------------------------------- */

static int id_from_catalog(struct cps_registry *r, struct cps_schema *schema, int32_t *id,
                           char *errstr, size_t errstr_size)
{
	struct cps_schema *known;
	int32_t found;

	pthread_mutex_lock(&r->lock);
	found = schema->id;
	if (found <= 0) {
		known = cps_catalog_by_fingerprint(r->catalog, schema->fingerprint);
		if (known && known->id > 0)
			found = schema->id = known->id;
	}
	pthread_mutex_unlock(&r->lock);
	if (found <= 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "schema \"%s\" has no id (%s)", schema->name ? schema->name : "?",
		                  FREE_MODE_HINT);
	*id = found;
	return CPS_OK;
}

/* The body {"schema": "<the schema's JSON>"} of a POST about `schema` and
 * the path `prefix` + the URL-escaped `subject` + `suffix`. The full
 * JSON (docs and defaults included), not only the canonical form:
 * consumers resolve with the defaults the registry hands them. */
static int subject_request(const struct cps_schema *schema, const char *subject, const char *prefix,
                           const char *suffix, char **path, char **body, char *errstr,
                           size_t errstr_size)
{
	char *text = schema->json ? json_dumps(schema->json, JSON_COMPACT) : NULL;
	CURL *curl = curl_easy_init();
	char *escaped = curl ? curl_easy_escape(curl, subject, 0) : NULL;
	json_t *req;

	*path = *body = NULL;
	if (!text && schema->canonical)
		text = strdup(schema->canonical);
	req = text ? json_pack("{s:s}", "schema", text) : NULL;
	*body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (escaped && asprintf(path, "%s%s%s", prefix, escaped, suffix) < 0)
		*path = NULL;
	json_decref(req);
	free(text);
	curl_free(escaped);
	if (curl)
		curl_easy_cleanup(curl);
	if (*path && *body)
		return CPS_OK;
	free(*path);
	free(*body);
	*path = *body = NULL;
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* The registry's answer to a lookup that found nothing, said plainly. */
static int lookup_refused(long long code, const char *subject, const struct cps_schema *schema,
                          const char *why, char *errstr, size_t errstr_size)
{
	char reason[CPS_ERRSTR_SIZE];

	if (code != 40401 && code != 40403)
		return CPS_ERR_INVALID;
	snprintf(reason, sizeof(reason), "%s", why);
	return cps_seterr(
	    CPS_ERR_INVALID, errstr, errstr_size,
	    "schema \"%s\" is not registered under subject \"%s\" and schemas.registry.auto_register is false: register it first (%s)",
	    schema->name ? schema->name : "?", subject, reason);
}

int cps_registry_id_for(struct cps_registry *r, const char *subject, struct cps_schema *schema,
                        int32_t *id, char *errstr, size_t errstr_size)
{
	struct subject_id *hit;
	struct cps_schema *known;
	char *path = NULL, *body = NULL;
	json_t *resp = NULL, *jid;
	long long code = 0;
	json_int_t got;
	int rc;

	if (!r->url)
		return id_from_catalog(r, schema, id, errstr, errstr_size);
	if (!subject || !*subject)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "registry subject for schema \"%s\" is empty",
		                  schema->name ? schema->name : "?");

	pthread_mutex_lock(&r->lock);
	hit = find_subject_id(r, subject, schema->fingerprint);
	if (hit) {
		*id = schema->id = hit->id;
		pthread_mutex_unlock(&r->lock);
		return CPS_OK;
	}
	pthread_mutex_unlock(&r->lock);

	rc = subject_request(schema, subject, "/subjects/", r->lookup_only ? "" : "/versions",
	                     &path, &body, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rc = registry_call(r, "POST", path, body, &resp, &code, errstr, errstr_size);
	if (rc == CPS_ERR_INVALID && r->lookup_only)
		rc = lookup_refused(code, subject, schema, errstr, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	jid = json_object_get(resp, "id");
	got = json_is_integer(jid) ? json_integer_value(jid) : 0;
	if (got <= 0 || got > INT32_MAX) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "registry POST \"%s\" answered without a valid \"id\"", path);
		goto out;
	}
	pthread_mutex_lock(&r->lock);
	schema->id = (int32_t)got;
	/* id -> schema only for a schema the catalog owns: `schema` itself may
	 * be the caller's and die before the registry does. */
	known = r->catalog ? cps_catalog_by_fingerprint(r->catalog, schema->fingerprint) : NULL;
	if (remember_subject_id(r, subject, schema->fingerprint, (int32_t)got) < 0 ||
	    (known && remember_id_schema(r, (int32_t)got, known) < 0))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_unlock(&r->lock);
	if (rc == CPS_OK)
		*id = (int32_t)got;
out:
	json_decref(resp);
	free(body);
	free(path);
	return rc;
}

/* The registry's "messages" (verbose answers) as "a; b; c" into `out`. */
static void join_messages(const json_t *messages, char *out, size_t out_size)
{
	char one[MAX_MESSAGE_CHARS + 1];
	size_t i, used = 0;
	const json_t *m;

	*out = 0;
	json_array_foreach (messages, i, m) {
		if (!json_is_string(m) || used + 3 >= out_size)
			continue;
		copy_message(one, sizeof(one), json_string_value(m));
		used +=
		    (size_t)snprintf(out + used, out_size - used, "%s%s", used ? "; " : "", one);
		if (used >= out_size)
			break;
	}
}

bool cps_registry_lookup_only(const struct cps_registry *r)
{
	return r && r->lookup_only;
}

int cps_registry_check_compatible(struct cps_registry *r, const char *subject,
                                  const struct cps_schema *schema, char *errstr, size_t errstr_size)
{
	char *path = NULL, *body = NULL, why[CPS_ERRSTR_SIZE / 2];
	json_t *resp = NULL, *ok;
	long long code = 0;
	int rc;

	if (!r || !r->url)
		return CPS_OK; /* registry-free: the catalog's ids are the contract */
	rc = subject_request(schema, subject, "/compatibility/subjects/",
	                     "/versions/latest?verbose=true", &path, &body, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rc = registry_call(r, "POST", path, body, &resp, &code, errstr, errstr_size);
	if (rc == CPS_ERR_INVALID && (code == 40401 || code == 40402)) {
		rc = CPS_OK; /* no version yet: anything is compatible with nothing */
		goto out;
	}
	if (rc != CPS_OK)
		goto out;
	ok = json_object_get(resp, "is_compatible");
	if (!json_is_boolean(ok)) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "registry POST \"%s\" answered without \"is_compatible\"", path);
		goto out;
	}
	if (!json_is_true(ok)) {
		join_messages(json_object_get(resp, "messages"), why, sizeof(why));
		rc = cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "schema \"%s\" is incompatible with the latest version of subject \"%s\"%s%s",
		    schema->name ? schema->name : "?", subject, *why ? ": " : "", why);
	}
out:
	json_decref(resp);
	free(body);
	free(path);
	return rc;
}

/* Stores a schema fetched for `id`: an identical catalog schema (same
 * fingerprint) is reused, else the catalog (or, without one, the
 * registry) takes it. @locks r->lock MUST be held. */
static int adopt_fetched(struct cps_registry *r, int32_t id, struct cps_schema *fetched,
                         struct cps_schema **out, char *errstr, size_t errstr_size)
{
	struct cps_schema *same = NULL;
	char cerr[CPS_ERRSTR_SIZE];

	*out = find_id_schema(r, id); /* another worker fetched it meanwhile */
	if (*out) {
		cps_schema_free(fetched);
		return CPS_OK;
	}
	if (r->catalog)
		same = cps_catalog_by_fingerprint(r->catalog, fetched->fingerprint);
	if (same) {
		cps_schema_free(fetched);
		fetched = NULL;
		if (same->id <= 0)
			same->id = id;
	} else if (r->catalog) {
		/* cps_catalog_add takes ownership, failing or not. */
		fetched->id = id;
		same = fetched;
		fetched = NULL;
		if (cps_catalog_add(r->catalog, same, cerr, sizeof(cerr)) != CPS_OK)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "schema id %" PRId32 " from the registry: %s", id, cerr);
	} else if (cps_grow(&r->owned, &r->cap_owned, r->n_owned + 1, sizeof(*r->owned)) == 0) {
		fetched->id = id;
		same = r->owned[r->n_owned++] = fetched;
		fetched = NULL;
	}
	if (!same || remember_id_schema(r, id, same) < 0) {
		cps_schema_free(fetched);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	*out = same;
	return CPS_OK;
}

int cps_registry_schema_by_id(struct cps_registry *r, int32_t id, struct cps_schema **out,
                              char *errstr, size_t errstr_size)
{
	char path[64];
	char perr[CPS_ERRSTR_SIZE];
	struct cps_schema *s = NULL;
	json_t *resp = NULL, *text, *type;
	int rc;

	*out = NULL;
	if (id <= 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "schema id %" PRId32 " is not positive", id);
	pthread_mutex_lock(&r->lock);
	/* With a registry only ids it gave out count: the manifest's ids of a
	 * registry-free deployment may mean other schemas there. */
	s = r->url ? find_id_schema(r, id) : cps_catalog_by_id(r->catalog, id);
	pthread_mutex_unlock(&r->lock);
	if (s) {
		*out = s;
		return CPS_OK;
	}
	if (!r->url)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "schema id %" PRId32 " unknown (%s)", id, FREE_MODE_HINT);

	snprintf(path, sizeof(path), "/schemas/ids/%" PRId32, id);
	rc = registry_request(r, "GET", path, NULL, &resp, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	type = json_object_get(resp, "schemaType");
	if (json_is_string(type) && strcmp(json_string_value(type), "AVRO") != 0) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "schema id %" PRId32 " is a %.20s schema, not Avro", id,
		                json_string_value(type));
		goto out;
	}
	text = json_object_get(resp, "schema");
	if (!json_is_string(text)) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "registry GET \"%s\" answered without a \"schema\" string", path);
		goto out;
	}
	rc = cps_schema_parse(json_string_value(text), json_string_length(text), &s, perr,
	                      sizeof(perr));
	if (rc != CPS_OK) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "schema id %" PRId32 " from the registry: %s", id, perr);
		goto out;
	}
	pthread_mutex_lock(&r->lock);
	rc = adopt_fetched(r, id, s, out, errstr, errstr_size);
	pthread_mutex_unlock(&r->lock);
out:
	json_decref(resp);
	return rc;
}
