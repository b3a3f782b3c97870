/*
 * The connector registry and the open path shared by every connector:
 * checks a table's version and mandatory slots at registration, validates
 * settings against the connector's declarations before its open runs.
 */
#include "connectors/connector.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONNECTORS 16

static const struct cps_connector_ops *registry[MAX_CONNECTORS];
static size_t n_registered;

void cps_position_format(const char *platform, const struct cps_position *pos, char *buf,
                         size_t size)
{
	if (!buf || size == 0)
		return;
	snprintf(buf, size, "%s:%s/%" PRId32 "@%" PRId64, platform ? platform : "", pos->stream,
	         pos->partition, pos->offset);
}

int cps_header_fingerprint(const struct cps_header *h, size_t n, const char *name, uint64_t *fp)
{
	char hex[17];

	for (size_t i = 0; i < n; i++) {
		if (strcmp(h[i].name, name) != 0)
			continue;
		if (!h[i].value || h[i].value_len != 16)
			return -1;
		memcpy(hex, h[i].value, 16);
		hex[16] = '\0';
		if (strspn(hex, "0123456789abcdef") != 16)
			return -1;
		*fp = strtoull(hex, NULL, 16);
		return 1;
	}
	return 0;
}

/* Which mandatory slot is missing, or NULL when the table is complete. */
static const char *missing_slot(const struct cps_connector_ops *ops)
{
	if (!ops->type || !*ops->type)
		return "type";
	if (!ops->settings || ops->n_settings == 0)
		return "settings";
	if (ops->source_open) {
		if (!ops->source_poll)
			return "source_poll";
		if (!ops->source_commit)
			return "source_commit";
		if (!ops->source_close)
			return "source_close";
	} else if (ops->source_poll || ops->source_commit || ops->source_close) {
		return "source_open";
	}
	if (ops->sink_open) {
		if (!ops->sink_put)
			return "sink_put";
		if (!ops->sink_flush)
			return "sink_flush";
		if (!ops->sink_close)
			return "sink_close";
	} else if (ops->sink_put || ops->sink_flush || ops->sink_close) {
		return "sink_open";
	}
	if (!ops->source_open && !ops->sink_open)
		return "source_open or sink_open";
	if ((ops->offsets_get || ops->offsets_reset) && !ops->source_open)
		return "source_open (offsets are a source's)";
	if (ops->offsets_reset && !ops->offsets_get)
		return "offsets_get (set with offsets_reset)";
	if (ops->snapshot_request && !ops->source_open)
		return "source_open (a snapshot is a source's)";
	return NULL;
}

int cps_connector_register(const struct cps_connector_ops *ops, char *errstr, size_t errstr_size)
{
	const char *slot;

	if (!ops)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "connector table is NULL");
	if (ops->version != CPS_CONNECTOR_API_VERSION)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "connector '%s' has API version %d, this cpsync needs %d",
		                  ops->type ? ops->type : "?", ops->version,
		                  CPS_CONNECTOR_API_VERSION);
	slot = missing_slot(ops);
	if (slot)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "connector '%s' lacks mandatory slot '%s'",
		                  ops->type ? ops->type : "?", slot);
	if (cps_connector_find(ops->type))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "connector type '%s' is already registered", ops->type);
	if (n_registered == MAX_CONNECTORS)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "connector registry is full (%d types)", MAX_CONNECTORS);
	registry[n_registered++] = ops;
	return CPS_OK;
}

const struct cps_connector_ops *cps_connector_find(const char *type)
{
	for (size_t i = 0; type && i < n_registered; i++)
		if (strcmp(registry[i]->type, type) == 0)
			return registry[i];
	return NULL;
}

void cps_connector_registry_clear(void)
{
	n_registered = 0;
}

/* Validates the settings of one side against the connector's declarations
 * and copies them with defaults into resolved (initialised here; release it
 * on any return). */
static int resolve_settings(const struct cps_connector_ops *ops, bool source, const char *platform,
                            const struct cps_settings *settings, struct cps_settings *resolved,
                            char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE];

	cps_settings_init(resolved);
	if (cps_settings_validate(settings, ops->settings, ops->n_settings,
	                          source ? CPS_SETTING_SOURCE : CPS_SETTING_SINK, why,
	                          sizeof(why)) != CPS_OK)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s %s '%s': %s", ops->type,
		                  source ? "source" : "sink", platform, why);
	if ((settings && cps_settings_copy(resolved, settings) < 0) ||
	    cps_settings_apply_defaults(resolved, ops->settings, ops->n_settings) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

static int open_side(const struct cps_connector_ops *ops, bool source, const char *platform,
                     const struct cps_settings *settings, struct cps_conn **out, char *errstr,
                     size_t errstr_size)
{
	struct cps_settings resolved;
	struct cps_conn *c = NULL;
	int rc;

	*out = NULL;
	if (!ops || (source ? !ops->source_open : !ops->sink_open))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "connector '%s' cannot be a %s", ops ? ops->type : "?",
		                  source ? "source" : "sink");
	if (!platform || strlen(platform) >= CPS_PLATFORM_MAX)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "platform name is missing or too long");
	rc = resolve_settings(ops, source, platform, settings, &resolved, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_release;
	rc = source ? ops->source_open(platform, &resolved, &c, errstr, errstr_size)
	            : ops->sink_open(platform, &resolved, &c, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_release;
	c->ops = ops;
	c->is_source = source;
	snprintf(c->platform, sizeof(c->platform), "%s", platform);
	*out = c;
out_release:
	cps_settings_release(&resolved);
	return rc;
}

int cps_connector_source_open(const struct cps_connector_ops *ops, const char *platform,
                              const struct cps_settings *settings, struct cps_conn **out,
                              char *errstr, size_t errstr_size)
{
	return open_side(ops, true, platform, settings, out, errstr, errstr_size);
}

int cps_connector_sink_open(const struct cps_connector_ops *ops, const char *platform,
                            const struct cps_settings *settings, struct cps_conn **out,
                            char *errstr, size_t errstr_size)
{
	return open_side(ops, false, platform, settings, out, errstr, errstr_size);
}

void cps_conn_status_reset(struct cps_conn_status *st)
{
	memset(st, 0, sizeof(*st));
	st->lag = -1;
	st->last_msg_ms = -1;
}

void cps_conn_status_error(struct cps_conn_status *st, const char *text)
{
	st->errors++;
	snprintf(st->last_error, sizeof(st->last_error), "%s", text ? text : "");
}

void cps_conn_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	void (*describe)(struct cps_conn *, struct cps_conn_status *);

	cps_conn_status_reset(st);
	if (!c)
		return;
	describe = c->is_source ? c->ops->source_describe : c->ops->sink_describe;
	if (describe)
		describe(c, st);
}

int cps_offsets_add(struct cps_offsets *o, const struct cps_offset_entry *e)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct cps_offset_entry *v = realloc(o->v, cap * sizeof(*v));

		if (!v)
			return CPS_ERR_FATAL;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = *e;
	return CPS_OK;
}

void cps_offset_entry_init(struct cps_offset_entry *e, const char *kind, const char *stream)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->kind, sizeof(e->kind), "%s", kind ? kind : "");
	snprintf(e->stream, sizeof(e->stream), "%s", stream ? stream : "");
	e->partition = -1;
	e->offset = -1;
	e->end = -1;
	e->lag = -1;
}

void cps_offsets_release(struct cps_offsets *o)
{
	free(o->v);
	o->v = NULL;
	o->n = o->cap = 0;
}

int cps_connector_offsets_get(const struct cps_connector_ops *ops, const char *platform,
                              const struct cps_settings *settings, struct cps_offsets *out,
                              char *errstr, size_t errstr_size)
{
	struct cps_settings resolved;
	int rc;

	if (!ops || !ops->offsets_get)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "a %s source cannot show its offsets", ops ? ops->type : "?");
	rc = resolve_settings(ops, true, platform, settings, &resolved, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = ops->offsets_get(platform, &resolved, out, errstr, errstr_size);
	cps_settings_release(&resolved);
	return rc;
}

int cps_connector_offsets_reset(const struct cps_connector_ops *ops, const char *platform,
                                const struct cps_settings *settings, struct cps_conn *open,
                                const struct cps_offsets_reset *to, struct cps_offsets *out,
                                char *errstr, size_t errstr_size)
{
	struct cps_settings resolved;
	int rc;

	if (!ops || !ops->offsets_reset)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "a %s source cannot reset its offsets", ops ? ops->type : "?");
	rc = resolve_settings(ops, true, platform, settings, &resolved, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = ops->offsets_reset(platform, &resolved,
		                        open && open->ops == ops && open->is_source ? open : NULL,
		                        to, out, errstr, errstr_size);
	cps_settings_release(&resolved);
	return rc;
}

int cps_connector_snapshot_request(const struct cps_connector_ops *ops, const char *platform,
                                   const struct cps_settings *settings, const char *const *tables,
                                   size_t n, bool check_only, char *errstr, size_t errstr_size)
{
	struct cps_settings resolved;
	int rc;

	if (!ops || !ops->snapshot_request)
		return cps_seterr(
		    CPS_CONN_CONFLICT, errstr, errstr_size,
		    "a %s source cannot re-read tables while it runs (only a postgres "
		    "source in replication mode can)",
		    ops ? ops->type : "?");
	rc = resolve_settings(ops, true, platform, settings, &resolved, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = ops->snapshot_request(platform, &resolved, tables, n, check_only, errstr,
		                           errstr_size);
	cps_settings_release(&resolved);
	return rc;
}

int cps_connector_sweep_read(const struct cps_connector_ops *ops, const char *platform,
                             const struct cps_settings *settings, size_t chunk,
                             const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	struct cps_settings resolved;
	int rc;

	if (!ops || !ops->sweep_read)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "a %s source cannot read its platform's full data for a sweep",
		                  ops ? ops->type : "?");
	rc = resolve_settings(ops, true, platform, settings, &resolved, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = ops->sweep_read(platform, &resolved, chunk ? chunk : 1000, sink, errstr,
		                     errstr_size);
	cps_settings_release(&resolved);
	return rc;
}
