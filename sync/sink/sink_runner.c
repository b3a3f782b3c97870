/*
 * The sink runner (sink_runner.h): one thread per platform sink. Consumes
 * the unified topics with the Kafka connector's source side, drops echoes
 * (cps_sink_is_echo, with record_history.changed_fields from the store),
 * applies the allow-list, encodes for the target connector, puts, and at
 * most every `flush_ms` flushes, then commits the consumed offsets. Any failure closes and reopens both
 * sides after a pause: uncommitted events are delivered again (at-least-once).
 */
#include "sink/sink_runner.h"
#include "base/clock.h"

#include "kafka/broker.h"

#include "codec/avro_json.h"
#include "base/buf.h"
#include "codec/codec.h"
#include "model/entity.h"
#include "codec/framing.h"
#include "base/log.h"
#include "base/pii.h"
#include "reconcile/unified.h"
#include "store/pgerr.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FACILITY         "SINK"
#define DEFAULT_PREFIX   "cpsync.unified."
#define DEFAULT_FRAMING  "single-object"
#define HEADER_SCHEMA_FP "cpsync-schema-fingerprint"
#define FLUSH_TIMEOUT_MS 30000
#define BACKOFF_MS       1000
#define IDLE_FLUSH_MS    1000

extern const struct cps_connector_ops cps_kafka_connector;


enum cps_sink_format cps_sink_format_for(const char *connector_type)
{
	if (connector_type && !strcmp(connector_type, "kafka"))
		return CPS_SINK_FORMAT_FRAMED;
	if (connector_type && !strcmp(connector_type, "files"))
		return CPS_SINK_FORMAT_RAW;
	return CPS_SINK_FORMAT_JSON;
}

/* ---- the no-echo rule ---------------------------------------------------- */

/* The platform of a FieldProvenance entry in lowercase, or NULL (steward). */
static const char *prov_platform(json_t *entry, char *buf, size_t size)
{
	json_t *p = json_object_get(entry, "platform");
	const char *name;
	size_t i;

	if (json_is_object(p)) /* union branch {"cpsync.Platform": "CITY"} */
		p = json_object_iter_value(json_object_iter(p));
	name = json_string_value(p);
	if (!name)
		return NULL;
	for (i = 0; name[i] && i + 1 < size; i++)
		buf[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	buf[i] = '\0';
	return buf;
}

static json_t *prov_entry(json_t *provenance, const char *field)
{
	size_t i;
	json_t *e;

	json_array_foreach(provenance, i, e)
	{
		if (json_is_string(json_object_get(e, "field")) &&
		    !strcmp(json_string_value(json_object_get(e, "field")), field))
			return e;
	}
	return NULL;
}

bool cps_sink_is_echo(json_t *event, const char *platform, json_t *changed_fields,
                      json_t *prev_provenance)
{
	json_t *prov = json_object_get(event, "provenance");
	const char *op = json_string_value(json_object_get(event, "operation"));
	char name[CPS_PLATFORM_MAX];
	size_t i, attributed = 0;
	json_t *f;

	if (op && !strcmp(op, "DELETE")) {
		const char *k;
		json_t *v;

		json_object_foreach(prev_provenance, k, v)
		{
			const char *p = json_string_value(json_object_get(v, "platform"));

			if (p && !strcasecmp(p, platform))
				return true;
		}
		return false;
	}
	if (json_is_array(changed_fields)) {
		json_array_foreach(changed_fields, i, f)
		{
			json_t *e =
			    json_is_string(f) ? prov_entry(prov, json_string_value(f)) : NULL;
			const char *p;

			if (!e)
				continue; /* changed to null: decides nothing */
			p = prov_platform(e, name, sizeof(name));
			if (!p || strcmp(p, platform) != 0)
				return false;
			attributed++;
		}
		if (attributed)
			return true;
	}
	/* unknown: an echo only when P already holds every value */
	json_array_foreach(prov, i, f)
	{
		const char *p = prov_platform(f, name, sizeof(name));

		if (!p || strcmp(p, platform) != 0)
			return false;
		attributed++;
	}
	return attributed > 0;
}

/* ---- the allow-list ------------------------------------------------------ */

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (list && *list) {
		const char *comma = strchr(list, ',');
		size_t len = comma ? (size_t)(comma - list) : strlen(list);

		while (len && *list == ' ')
			list++, len--;
		while (len && list[len - 1] == ' ')
			len--;
		if (len == n && !strncmp(list, name, n))
			return true;
		list = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool type_nullable(json_t *type)
{
	size_t i;
	json_t *t;

	if (!json_is_array(type))
		return json_is_string(type) && !strcmp(json_string_value(type), "null");
	json_array_foreach(type, i, t)
	{
		if (json_is_string(t) && !strcmp(json_string_value(t), "null"))
			return true;
	}
	return false;
}

int cps_sink_apply_allow(json_t *record, const struct cps_schema *schema, const char *fields,
                         enum cps_sink_format format, char *errstr, size_t errstr_size)
{
	json_t *decl = json_object_get(schema->json, "fields");
	size_t i;
	json_t *fd;

	json_array_foreach(decl, i, fd)
	{
		const char *name = json_string_value(json_object_get(fd, "name"));

		if (!name || list_has(fields, name))
			continue;
		if (format == CPS_SINK_FORMAT_JSON) {
			json_object_del(record, name);
			continue;
		}
		if (!type_nullable(json_object_get(fd, "type")))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s' is outside the allow-list and not nullable",
			                  name);
		json_object_set_new(record, name, json_null());
	}
	return CPS_OK;
}

/* ---- plain JSON for SQL targets ------------------------------------------ */

/* Whether a declared type (name `n`, namespace attribute `ns` or NULL) is the
 * one `ref` names. A declaration without a namespace attribute inherits its
 * enclosing one, which we do not track: its short name decides then. */
static bool names_type(const char *n, const char *ns, const char *ref)
{
	const char *dot = strrchr(ref, '.');
	size_t nsl = ns ? strlen(ns) : 0;

	if (!strcmp(n, ref))
		return true;
	if (ns && !strchr(n, '.'))
		return !strncmp(ref, ns, nsl) && ref[nsl] == '.' && !strcmp(ref + nsl + 1, n);
	return dot && !strchr(n, '.') && !strcmp(dot + 1, n);
}

/* The definition of named type `name` inside `node`, or NULL. */
static json_t *find_named(json_t *node, const char *name)
{
	if (json_is_array(node)) {
		size_t i;
		json_t *t, *r;

		json_array_foreach(node, i, t) if ((r = find_named(t, name))) return r;
		return NULL;
	}
	if (!json_is_object(node))
		return NULL;
	{
		const char *n = json_string_value(json_object_get(node, "name"));
		const char *ns = json_string_value(json_object_get(node, "namespace"));
		const char *type = json_string_value(json_object_get(node, "type"));
		json_t *r;

		if (n && type &&
		    (!strcmp(type, "record") || !strcmp(type, "enum") || !strcmp(type, "fixed")) &&
		    names_type(n, ns, name))
			return node;
		if ((r = find_named(json_object_get(node, "type"), name)))
			return r;
		if ((r = find_named(json_object_get(node, "fields"), name)))
			return r;
		if ((r = find_named(json_object_get(node, "items"), name)))
			return r;
		return find_named(json_object_get(node, "values"), name);
	}
}

static json_t *decimal_text(const char *bytes, size_t len, int scale)
{
	/* two's complement big-endian unscaled value, printed exactly */
	unsigned char mag[64];
	char digits[160], out[200];
	size_t nd = 0, o = 0;
	bool neg = len && (bytes[0] & 0x80);

	if (len > sizeof(mag))
		return NULL;
	for (size_t i = 0; i < len; i++)
		mag[i] = (unsigned char)(neg ? ~bytes[i] : bytes[i]);
	if (neg) /* magnitude = ~x + 1 */
		for (size_t i = len; i-- > 0;)
			if (++mag[i] != 0)
				break;
	for (;;) { /* repeated division by 10 */
		unsigned rem = 0;
		bool zero = true;

		for (size_t i = 0; i < len; i++) {
			unsigned cur = rem * 256 + mag[i];

			mag[i] = (unsigned char)(cur / 10);
			rem = cur % 10;
			if (mag[i])
				zero = false;
		}
		digits[nd++] = (char)('0' + rem);
		if (zero || nd >= sizeof(digits) - 1)
			break;
	}
	while ((int)nd <= scale)
		digits[nd++] = '0';
	if (neg)
		out[o++] = '-';
	for (size_t i = nd; i-- > 0;) {
		out[o++] = digits[i];
		if (scale > 0 && i == (size_t)scale)
			out[o++] = '.';
	}
	out[o] = '\0';
	return json_string(out);
}

json_t *cps_sink_plain_json(json_t *root, json_t *type, json_t *value, char *errstr,
                            size_t errstr_size)
{
	const char *tname, *logical;

	if (json_is_string(type)) {
		tname = json_string_value(type);
		if (!strcmp(tname, "bytes") || !strcmp(tname, "string") || !strcmp(tname, "int") ||
		    !strcmp(tname, "long") || !strcmp(tname, "float") || !strcmp(tname, "double") ||
		    !strcmp(tname, "boolean") || !strcmp(tname, "null")) {
			json_t *t = json_pack("{s:s}", "type", tname);
			json_t *r = cps_sink_plain_json(root, t, value, errstr, errstr_size);

			json_decref(t);
			return r;
		}
		type = find_named(root, tname);
		if (!type) {
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "named type '%s' is not defined", tname);
			return NULL;
		}
	}
	if (json_is_array(type)) { /* union: {"branch": v} or null */
		const char *branch;
		size_t i;
		json_t *t;

		if (json_is_null(value))
			return json_null();
		branch = json_object_iter_key(json_object_iter(value));
		if (!branch) {
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "union value is not an object");
			return NULL;
		}
		json_array_foreach(type, i, t)
		{
			const char *bn = json_is_string(t)
			                     ? json_string_value(t)
			                     : json_string_value(json_object_get(t, "name"));
			const char *ns = json_string_value(json_object_get(t, "namespace"));
			const char *bt = json_string_value(json_object_get(t, "type"));

			if (!bn && bt) /* unnamed complex or primitive-with-logical-type branch */
				bn = bt;
			if (!bn)
				continue;
			if (names_type(bn, ns, branch))
				return cps_sink_plain_json(root, t, json_object_get(value, branch),
				                           errstr, errstr_size);
		}
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "union branch '%s' is not in the schema", branch);
		return NULL;
	}
	tname = json_string_value(json_object_get(type, "type"));
	logical = json_string_value(json_object_get(type, "logicalType"));
	if (!tname) {
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "schema type without a name");
		return NULL;
	}
	if (logical && !strcmp(logical, "date") && json_is_integer(value)) {
		time_t t = (time_t)json_integer_value(value) * 86400;
		struct tm tm;
		char buf[32];

		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
		return json_string(buf);
	}
	if (logical &&
	    (!strcmp(logical, "timestamp-millis") || !strcmp(logical, "timestamp-micros")) &&
	    json_is_integer(value)) {
		int64_t v = json_integer_value(value),
		        div = logical[10] == 'm' && logical[11] == 'i' && logical[12] == 'l'
		                  ? 1000
		                  : 1000000;
		int64_t secs = v / div, frac = v % div;
		time_t t;
		struct tm tm;
		char buf[64], date[40];

		if (frac < 0)
			frac += div, secs--;
		t = (time_t)secs;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, sizeof(buf), div == 1000 ? "%s.%03" PRId64 "Z" : "%s.%06" PRId64 "Z",
		         date, frac);
		return json_string(buf);
	}
	if (!strcmp(tname, "bytes") || !strcmp(tname, "fixed")) {
		const char *s = json_string_value(value);
		size_t n = s ? json_string_length(value) : 0, len = 0;
		unsigned char *raw = malloc(n + 1);
		json_t *r = NULL;

		if (!s || !raw) {
			free(raw);
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "expected bytes as a string");
			return NULL;
		}
		/* code points 0-255 in UTF-8 back to bytes */
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c < 0x80)
				raw[len++] = c;
			else if ((c & 0xE0) == 0xC0 && i + 1 < n)
				raw[len++] = (unsigned char)(((c & 0x1F) << 6) | (s[++i] & 0x3F));
		}
		if (logical && !strcmp(logical, "decimal")) {
			r = decimal_text((const char *)raw, len,
			                 (int)json_integer_value(json_object_get(type, "scale")));
		} else {
			char *hex = malloc(2 * len + 3);

			if (hex) {
				hex[0] = '\\';
				hex[1] = 'x';
				for (size_t i = 0; i < len; i++)
					snprintf(hex + 2 + 2 * i, 3, "%02x", raw[i]);
				hex[2 + 2 * len] = '\0';
				r = json_string(hex);
				free(hex);
			}
		}
		free(raw);
		if (!r)
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "bad bytes value");
		return r;
	}
	if (!strcmp(tname, "record")) {
		json_t *out = json_object(), *fd;
		size_t i;

		json_array_foreach(json_object_get(type, "fields"), i, fd)
		{
			const char *name = json_string_value(json_object_get(fd, "name"));
			json_t *v = json_object_get(value, name);
			json_t *p;

			if (!v) /* removed by the allow-list */
				continue;
			p = cps_sink_plain_json(root, json_object_get(fd, "type"), v, errstr,
			                        errstr_size);
			if (!p) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, name, p);
		}
		return out;
	}
	if (!strcmp(tname, "array")) {
		json_t *out = json_array(), *v;
		size_t i;

		json_array_foreach(value, i, v)
		{
			json_t *p = cps_sink_plain_json(root, json_object_get(type, "items"), v,
			                                errstr, errstr_size);

			if (!p) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, p);
		}
		return out;
	}
	if (!strcmp(tname, "map")) {
		json_t *out = json_object(), *v;
		const char *k;

		json_object_foreach(value, k, v)
		{
			json_t *p = cps_sink_plain_json(root, json_object_get(type, "values"), v,
			                                errstr, errstr_size);

			if (!p) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, k, p);
		}
		return out;
	}
	/* primitives and enums (symbols) as they are */
	return json_incref(value);
}

/* ---- the runner ---------------------------------------------------------- */

struct out_rec {
	struct cps_buf value;
	char key[256];
	char version[24];
	char fp[17];
	struct cps_header headers[5];
};

struct cps_sink_runner {
	char platform[CPS_PLATFORM_MAX];
	const struct cps_connector_ops *ops;
	enum cps_sink_format format;
	enum cps_framing framing;
	struct cps_settings sink_settings;   /* for the connector */
	struct cps_settings source_settings; /* for the Kafka consumer */
	char *allow[CPS_N_ENTITIES];             /* NULL = entity not sent */
	struct cps_catalog *catalog;
	struct cps_registry *registry;
	char *store_conninfo;
	PGconn *store;
	struct cps_status *status;
	struct cps_link *link;
	size_t batch_max;
	int poll_ms;
	int flush_ms; /* settings `flush_ms`: flush and commit at most this often; 0 = every batch */
	struct cps_position *pending; /* consumed and put, not yet flushed: newest per partition */
	size_t n_pending, cap_pending;
	size_t unflushed; /* records put since the last flush */

	struct cps_unified *unified;
	struct cps_codec *codecs[CPS_N_ENTITIES];
	struct cps_conn *source, *sink;
	struct out_rec *out;
	struct cps_sink_record *recs;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t stats_lock;
	struct cps_sink_stats stats;
	char masked_key[64];
};

static void stat_add(struct cps_sink_runner *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->stats_lock);
	*field += n;
	pthread_mutex_unlock(&r->stats_lock);
}

void cps_sink_runner_stats(struct cps_sink_runner *r, struct cps_sink_stats *out)
{
	pthread_mutex_lock(&r->stats_lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->stats_lock);
}

/* record_history of (entity, key, version): changed_fields and the previous
 * version's provenance, new references or NULL. CPS_OK when the row is
 * missing too (both NULL). */
static int history_lookup(struct cps_sink_runner *r, const char *entity, const char *key,
                          int64_t version, json_t **changed, json_t **prev, char *errstr,
                          size_t errstr_size)
{
	static const char sql[] =
	    "SELECT array_to_json(h.changed_fields)::text, p.provenance::text "
	    "FROM cpsync.record_history h LEFT JOIN cpsync.record_history p "
	    "ON p.entity = h.entity AND p.key = h.key AND p.version = h.version - 1 "
	    "WHERE h.entity = $1 AND h.key = $2 AND h.version = $3";
	char vtext[24];
	const char *params[3] = {entity, key, vtext};
	PGresult *res;
	int rc = CPS_OK;

	*changed = *prev = NULL;
	if (!r->store_conninfo)
		return CPS_OK;
	if (!r->store || PQstatus(r->store) != CONNECTION_OK) {
		PQfinish(r->store);
		r->store = PQconnectdb(r->store_conninfo);
		if (PQstatus(r->store) != CONNECTION_OK) {
			char msg[256];

			cps_pg_conn_message(r->store, msg, sizeof(msg));
			PQfinish(r->store);
			r->store = NULL;
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                       "connecting to the store failed: %s", msg);
		}
	}
	snprintf(vtext, sizeof(vtext), "%" PRId64, version);
	res = PQexecParams(r->store, sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = '\0';
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                     "reading record_history failed: %s", msg);
	} else if (PQntuples(res) == 1) {
		if (!PQgetisnull(res, 0, 0))
			*changed = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		if (!PQgetisnull(res, 0, 1))
			*prev = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	}
	PQclear(res);
	return rc;
}

/* Builds out record `o` of one decoded unified event; CPS_OK and *skip set
 * when the event is dropped (counted). */
static int build_record(struct cps_sink_runner *r, int ei, json_t *event, struct out_rec *o,
                        struct cps_sink_record *rec, bool *skip, char *errstr, size_t errstr_size)
{
	const char *entity = cps_entities[ei];
	const char *key = json_string_value(json_object_get(event, "key"));
	const char *op = json_string_value(json_object_get(event, "operation"));
	int64_t version = json_integer_value(json_object_get(event, "version"));
	struct cps_schema *schema = cps_catalog_by_entity(r->catalog, entity);
	json_t *record = json_object_get(event, "record"), *changed = NULL, *prev = NULL;
	bool is_delete = op && !strcmp(op, "DELETE");
	char why[CPS_ERRSTR_SIZE];
	int rc;

	*skip = false;
	if (!key || !op || !schema) {
		stat_add(r, &r->stats.undecodable, 1);
		*skip = true;
		return CPS_OK;
	}
	rc = history_lookup(r, entity, key, version, &changed, &prev, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (cps_sink_is_echo(event, r->platform, changed, prev)) {
		json_decref(changed);
		json_decref(prev);
		stat_add(r, &r->stats.echoes, 1);
		*skip = true;
		return CPS_OK;
	}
	json_decref(changed);
	json_decref(prev);
	if (json_is_object(record) && json_object_size(record) == 1 &&
	    json_is_object(json_object_iter_value(json_object_iter(record))))
		record = json_object_iter_value(json_object_iter(record)); /* union branch */
	if (is_delete && r->format != CPS_SINK_FORMAT_JSON) {
		/* Avro targets: a tombstone (Kafka) has no record; files cannot say it */
		if (r->format == CPS_SINK_FORMAT_RAW) {
			*skip = true;
			return CPS_OK;
		}
	}
	cps_buf_reset(&o->value);
	if (!is_delete && json_is_object(record)) {
		rc =
		    cps_sink_apply_allow(record, schema, r->allow[ei], r->format, why, sizeof(why));
		if (rc != CPS_OK) {
			char masked[64];

			cps_mask_national_id(key, masked, sizeof(masked));
			cps_log_warn(FACILITY,
			             "sink '%s': %s record '%s' v%" PRId64 " not sent: %s",
			             r->platform, entity, masked, version, why);
			stat_add(r, &r->stats.not_allowed, 1);
			*skip = true;
			return CPS_OK;
		}
	}
	if (r->format == CPS_SINK_FORMAT_JSON) {
		json_t *plain = is_delete ? json_null()
		                          : cps_sink_plain_json(schema->json, schema->json, record,
		                                                why, sizeof(why));
		char *text;

		if (!plain)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s record to JSON: %s", entity,
			                  why);
		text = json_dumps(plain, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(plain);
		if (!text || cps_buf_append(&o->value, text, strlen(text)) < 0) {
			free(text);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		free(text);
	} else if (!is_delete) {
		struct cps_codec *codec = r->codecs[ei];

		if (!codec) {
			rc = cps_codec_new(schema, NULL, &r->codecs[ei], why, sizeof(why));
			if (rc != CPS_OK)
				return cps_seterr(rc, errstr, errstr_size, "%s codec: %s",
				                       entity, why);
			codec = r->codecs[ei];
		}
		avro_value_reset(cps_codec_value(codec));
		rc = cps_value_from_json(record, cps_codec_value(codec), why, sizeof(why));
		if (rc == CPS_OK)
			rc = r->format == CPS_SINK_FORMAT_RAW
			         ? cps_codec_encode(codec, cps_codec_value(codec), &o->value, why,
			                            sizeof(why))
			         : cps_codec_encode_framed(codec, r->framing, schema->id,
			                                   cps_codec_value(codec), &o->value, why,
			                                   sizeof(why));
		if (rc != CPS_OK)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "encoding a %s record: %s", entity,
			                  why);
	}
	snprintf(o->key, sizeof(o->key), "%s", key);
	snprintf(o->version, sizeof(o->version), "%" PRId64, version);
	snprintf(o->fp, sizeof(o->fp), "%016" PRIx64, schema->fingerprint);
	o->headers[0] = (struct cps_header){CPS_SINK_HEADER_KEY, o->key, strlen(o->key)};
	o->headers[1] =
	    (struct cps_header){CPS_SINK_HEADER_VERSION, o->version, strlen(o->version)};
	o->headers[2] = (struct cps_header){CPS_SINK_HEADER_OPERATION,
	                                    is_delete ? "DELETE" : "UPSERT", is_delete ? 6u : 6u};
	o->headers[3] = (struct cps_header){HEADER_SCHEMA_FP, o->fp, 16};
	*rec = (struct cps_sink_record){
	    .entity = entity,
	    .origin_platform = CPS_SINK_ORIGIN,
	    .key = o->key,
	    .key_len = strlen(o->key),
	    .value = is_delete && r->format == CPS_SINK_FORMAT_FRAMED ? NULL : o->value.data,
	    .value_len = is_delete && r->format == CPS_SINK_FORMAT_FRAMED ? 0 : o->value.len,
	    .headers = o->headers,
	    .n_headers = r->format == CPS_SINK_FORMAT_RAW ? 4 : 3,
	};
	return CPS_OK;
}

static void close_sides(struct cps_sink_runner *r)
{
	cps_source_close(r->source);
	r->source = NULL;
	cps_sink_close(r->sink);
	r->sink = NULL;
}

static int open_sides(struct cps_sink_runner *r, char *errstr, size_t errstr_size)
{
	int rc = CPS_OK;

	if (!r->sink)
		rc = cps_connector_sink_open(r->ops, r->platform, &r->sink_settings, &r->sink,
		                             errstr, errstr_size);
	if (rc == CPS_OK && !r->source)
		rc =
		    cps_connector_source_open(&cps_kafka_connector, r->platform,
		                              &r->source_settings, &r->source, errstr, errstr_size);
	return rc;
}

/* Remembers the newest consumed position of each stream partition until the
 * next flush. @locality the runner thread */
static int pending_add(struct cps_sink_runner *r, const struct cps_position *pos)
{
	for (size_t i = 0; i < r->n_pending; i++) {
		struct cps_position *p = &r->pending[i];

		if (p->partition == pos->partition && !strcmp(p->stream, pos->stream)) {
			if (pos->offset > p->offset)
				p->offset = pos->offset;
			return 0;
		}
	}
	if (r->n_pending == r->cap_pending) {
		size_t cap = r->cap_pending ? r->cap_pending * 2 : 16;
		struct cps_position *p = realloc(r->pending, cap * sizeof(*p));

		if (!p)
			return -1;
		r->pending = p;
		r->cap_pending = cap;
	}
	r->pending[r->n_pending++] = *pos;
	return 0;
}

/* Flushes the sink, then commits what it consumed: a committed offset is
 * always delivered. @locality the runner thread */
static int flush_and_commit(struct cps_sink_runner *r, int64_t *last_flush, char *errstr,
                            size_t errstr_size)
{
	int rc = cps_sink_flush(r->sink, FLUSH_TIMEOUT_MS, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	*last_flush = cps_mono_ms();
	if (r->n_pending) {
		rc = cps_source_commit(r->source, r->pending, r->n_pending, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	stat_add(r, &r->stats.sent, r->unflushed);
	if (r->link && r->unflushed) {
		atomic_fetch_add(&r->link->records, (int64_t)r->unflushed);
		atomic_store(&r->link->last_success_ms, cps_wall_ms());
	}
	r->n_pending = 0;
	r->unflushed = 0;
	return CPS_OK;
}

/* One poll-put round; flush and commit when due. @locality the runner thread */
static int run_batch(struct cps_sink_runner *r, int64_t *last_flush, char *errstr,
                     size_t errstr_size)
{
	struct cps_source_batch batch = {0};
	size_t n_out = 0, accepted = 0;
	int64_t since_flush;
	int rc;

	rc = cps_source_poll(r->source, &batch, r->batch_max, r->poll_ms, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	since_flush = cps_mono_ms() - *last_flush;
	if (batch.n == 0) {
		if (since_flush >= (r->n_pending ? r->flush_ms : IDLE_FLUSH_MS))
			return flush_and_commit(r, last_flush, errstr, errstr_size);
		return CPS_OK;
	}
	stat_add(r, &r->stats.consumed, batch.n);
	for (size_t i = 0; i < batch.n; i++) {
		struct cps_source_msg *m = &batch.msgs[i];
		int ei = cps_entity_index(m->entity);
		json_t *event = NULL;
		char why[CPS_ERRSTR_SIZE];
		bool skip = true;

		if (pending_add(r, &m->pos) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (ei < 0 || !r->allow[ei] ||
		    cps_unified_decode(r->unified, cps_entities[ei], m->value, m->value_len, &event,
		                       why, sizeof(why)) != CPS_OK) {
			if (ei >= 0 && r->allow[ei])
				cps_log_warn(FACILITY,
				             "sink '%s': undecodable unified event at %s: %s",
				             r->platform, m->origin, why);
			stat_add(r, &r->stats.undecodable, 1);
			continue;
		}
		rc = build_record(r, ei, event, &r->out[n_out], &r->recs[n_out], &skip, errstr,
		                  errstr_size);
		json_decref(event);
		if (rc != CPS_OK)
			return rc;
		if (!skip)
			n_out++;
	}
	if (n_out) {
		rc = cps_sink_put(r->sink, r->recs, n_out, &accepted, errstr, errstr_size);
		if (rc == CPS_OK && accepted != n_out)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                     "sink accepted %zu of %zu records", accepted, n_out);
		if (rc != CPS_OK)
			return rc;
	}
	r->unflushed += n_out;
	if (since_flush >= r->flush_ms)
		return flush_and_commit(r, last_flush, errstr, errstr_size);
	return CPS_OK;
}

static void *runner_main(void *arg)
{
	struct cps_sink_runner *r = arg;
	char err[CPS_ERRSTR_SIZE];
	int64_t last_flush = cps_mono_ms();

	while (!atomic_load(&r->stop)) {
		int rc = open_sides(r, err, sizeof(err));

		if (rc == CPS_OK) {
			if (r->link)
				cps_link_set_state(r->link, CPS_LINK_RUNNING);
			rc = run_batch(r, &last_flush, err, sizeof(err));
		}
		if (rc == CPS_OK)
			continue;
		stat_add(r, &r->stats.failures, 1);
		r->n_pending = 0; /* not committed: Kafka delivers them again */
		r->unflushed = 0;
		cps_log_warn(FACILITY, "sink '%s': %s; reopening", r->platform, err);
		if (r->link) {
			cps_link_set_state(r->link, CPS_LINK_FAILED);
			atomic_fetch_add(&r->link->errors, 1);
			if (r->status)
				cps_link_set_error(r->status, r->link, err);
		}
		close_sides(r);
		for (int64_t until = cps_mono_ms() + BACKOFF_MS;
		     cps_mono_ms() < until && !atomic_load(&r->stop);)
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	if (r->sink) {
		/* deliver what was accepted; the offsets of an unflushed batch
		 * were never committed anyway */
		cps_sink_flush(r->sink, 5000, err, sizeof(err));
	}
	close_sides(r);
	return NULL;
}

static void runner_free(struct cps_sink_runner *r)
{
	if (!r)
		return;
	close_sides(r);
	for (size_t i = 0; r->out && i < r->batch_max; i++)
		cps_buf_release(&r->out[i].value);
	free(r->out);
	free(r->recs);
	free(r->pending);
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		free(r->allow[i]);
		cps_codec_free(r->codecs[i]);
	}
	cps_unified_free(r->unified);
	PQfinish(r->store);
	free(r->store_conninfo);
	cps_settings_release(&r->sink_settings);
	cps_settings_release(&r->source_settings);
	pthread_mutex_destroy(&r->stats_lock);
	free(r);
}

static int split_settings(struct cps_sink_runner *r, const struct cps_sink_runner_conf *conf,
                          char *errstr, size_t errstr_size)
{
	const char *prefix = conf->topic_prefix ? conf->topic_prefix : DEFAULT_PREFIX;
	const char *framing = DEFAULT_FRAMING;
	struct cps_buf topics;
	char key[CPS_STREAM_MAX + 32], topic[CPS_STREAM_MAX];
	size_t n_allowed = 0;
	int rc = 0;

	for (size_t i = 0; conf->settings && i < conf->settings->n; i++) {
		const struct cps_setting *kv = &conf->settings->items[i];

		if (!strncmp(kv->key, "allow.", 6)) {
			int ei = cps_entity_index(kv->key + 6);

			if (ei < 0)
				return cps_seterr(CPS_ERR_INVALID, 
				    errstr, errstr_size,
				    "sink '%s': '%s' names no entity (person, household, "
				    "enrolment, verification, alert)",
				    conf->platform, kv->key);
			free(r->allow[ei]);
			r->allow[ei] = strdup(kv->value);
			if (!r->allow[ei])
				goto out_oom;
			n_allowed++;
		} else if (!strcmp(kv->key, "framing")) {
			framing = kv->value;
		} else if (!strcmp(kv->key, "flush_ms")) {
			char *end;
			long ms = strtol(kv->value, &end, 10);

			if (*end || ms < 0 || ms > 3600000)
				return cps_seterr(CPS_ERR_INVALID, 
				    errstr, errstr_size,
				    "sink '%s': flush_ms must be 0..3600000 milliseconds",
				    conf->platform);
			r->flush_ms = (int)ms;
		} else if (cps_settings_set(&r->sink_settings, kv->key, kv->value) < 0) {
			goto out_oom;
		}
	}
	if (n_allowed == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "sink '%s': no allow.<entity> list: it would send nothing",
		                  conf->platform);
	if (cps_framing_from_name(framing, &r->framing) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "sink '%s': framing '%s' is not raw, confluent or single-object",
		                  conf->platform, framing);
	/* a Kafka sink without brokers writes to cpsync's own Kafka */
	if (r->format == CPS_SINK_FORMAT_FRAMED &&
	    !cps_settings_get(&r->sink_settings, "brokers")) {
		rc = cps_settings_set(&r->sink_settings, "brokers", conf->bootstrap);
		if (rc == 0 && conf->kafka_props)
			rc = cps_kafka_settings_for(CPS_KAFKA_PRODUCER, conf->kafka_props,
			                            &r->sink_settings);
		if (rc < 0)
			goto out_oom;
	}
	/* the consumer of the unified topics */
	cps_buf_init(&topics, 0);
	for (int i = 0; i < CPS_N_ENTITIES && rc == 0; i++) {
		if (!r->allow[i])
			continue;
		snprintf(topic, sizeof(topic), "%s%s", prefix, cps_entities[i]);
		snprintf(key, sizeof(key), "topic.%s.entity", topic);
		rc = cps_buf_printf(&topics, "%s%s", topics.len ? "," : "", topic);
		if (rc == 0)
			rc = cps_settings_set(&r->source_settings, key, cps_entities[i]);
	}
	snprintf(key, sizeof(key), "cpsync-sink-%s", conf->platform);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "topics", (const char *)topics.data);
	cps_buf_release(&topics);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "group_id", key);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "brokers", conf->bootstrap);
	if (rc == 0)
		rc = cps_settings_set(&r->source_settings, "auto.offset.reset", "earliest");
	if (rc == 0 && conf->kafka_props)
		rc = cps_kafka_settings_for(CPS_KAFKA_CONSUMER, conf->kafka_props,
		                            &r->source_settings);
	if (rc < 0)
		goto out_oom;
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_sink_runner_start(const struct cps_sink_runner_conf *conf, struct cps_sink_runner **out,
                          char *errstr, size_t errstr_size)
{
	struct cps_sink_runner *r;
	struct cps_unified_conf uc = {0};
	char err[CPS_ERRSTR_SIZE];
	int rc;

	*out = NULL;
	if (!conf->platform || strlen(conf->platform) >= CPS_PLATFORM_MAX || !conf->ops ||
	    !conf->catalog || !conf->bootstrap)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "sink runner: platform, connector, catalog and bootstrap are "
		    "required");
	r = calloc(1, sizeof(*r));
	if (!r)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&r->stats_lock, NULL);
	atomic_init(&r->stop, false);
	snprintf(r->platform, sizeof(r->platform), "%s", conf->platform);
	r->ops = conf->ops;
	r->format = cps_sink_format_for(conf->ops->type);
	r->catalog = conf->catalog;
	r->registry = conf->registry;
	r->status = conf->status;
	r->link = conf->link;
	r->batch_max = conf->batch_max ? conf->batch_max : 500;
	r->poll_ms = conf->poll_ms > 0 ? conf->poll_ms : 200;
	cps_settings_init(&r->sink_settings);
	cps_settings_init(&r->source_settings);
	rc = split_settings(r, conf, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	if (conf->store_conninfo && !(r->store_conninfo = strdup(conf->store_conninfo)))
		goto out_oom;
	r->out = calloc(r->batch_max, sizeof(*r->out));
	r->recs = calloc(r->batch_max, sizeof(*r->recs));
	if (!r->out || !r->recs)
		goto out_oom;
	for (size_t i = 0; i < r->batch_max; i++)
		cps_buf_init(&r->out[i].value, 0);
	uc.catalog = conf->catalog;
	uc.framing = CPS_FRAMING_CONFLUENT;
	uc.registry = conf->registry;
	uc.topic_prefix = conf->topic_prefix;
	rc = cps_unified_new(&uc, &r->unified, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_seterr(rc, errstr, errstr_size, "sink '%s': %s", r->platform, err);
		goto out_free;
	}
	/* open once here so that a bad setting fails the start */
	rc = open_sides(r, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_seterr(rc, errstr, errstr_size, "platform '%s' sink: %s", r->platform,
		                err);
		goto out_free;
	}
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "sink '%s': cannot start its thread", r->platform);
		goto out_free;
	}
	r->started = true;
	if (r->link)
		cps_link_set_state(r->link, CPS_LINK_RUNNING);
	*out = r;
	return CPS_OK;

out_oom:
	rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
out_free:
	runner_free(r);
	return rc;
}

void cps_sink_runner_stop(struct cps_sink_runner *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->started)
		pthread_join(r->thread, NULL);
	if (r->link)
		cps_link_set_state(r->link, CPS_LINK_STOPPED);
	runner_free(r);
}
