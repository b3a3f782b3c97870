/*
 * Steward API, records (GET /api/v1/records/{entity}/{key}): the unified
 * record with per-field provenance, each platform's last-seen values, its
 * live conflicts and history. Stewards see it whole; viewers and operators
 * see only the fields the schema catalog declares non-personal (an
 * allow-list), and only for entities whose key is itself not personal.
 * A token confined to regions finds only the records of those regions.
 * Also the same masking of audit entries for operators (api_audit.c).
 */
#include "api/api_int.h"

#include "base/common.h"
#include "base/log.h"
#include "base/pii.h"
#include "codec/schema.h"
#include "model/entity.h"

#include <stdlib.h>
#include <string.h>

#define FAC "API"

#define HISTORY_DEFAULT 20

/* The allow-list: a field the viewer may see carries "cpsync.viewer": true
 * in its entity's .avsc; every other field is personal (a field added
 * later stays hidden until someone declares it). */
int cps_api_viewer_may_see(const struct cps_schema *s, const char *field)
{
	json_t *f;
	size_t i;

	json_array_foreach (json_object_get(s->json, "fields"), i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));

		if (name && !strcmp(name, field))
			return json_is_true(json_object_get(f, "cpsync.viewer"));
	}
	return 0;
}

/* Keeps, of an object keyed by field name, only the viewer's fields. */
static void keep_visible(const struct cps_schema *s, json_t *by_field)
{
	const char *k;
	json_t *v;
	void *tmp;

	if (!json_is_object(by_field))
		return;
	json_object_foreach_safe (by_field, tmp, k, v)
		if (!cps_api_viewer_may_see(s, k))
			json_object_del(by_field, k);
}

/* Keeps, of an array of field names, only the viewer's fields (that a
 * hidden field changed is already telling). */
static void keep_visible_names(const struct cps_schema *s, json_t *names)
{
	size_t i = 0;

	while (json_is_array(names) && i < json_array_size(names)) {
		const char *n = json_string_value(json_array_get(names, i));

		if (n && cps_api_viewer_may_see(s, n))
			i++;
		else
			json_array_remove(names, i);
	}
}

/* Provenance of the viewer's fields, without a steward's free-text reason. */
static void keep_visible_provenance(const struct cps_schema *s, json_t *prov)
{
	const char *k;
	json_t *v;

	keep_visible(s, prov);
	json_object_foreach (prov, k, v)
		json_object_del(v, "reason");
}

/* National IDs also hide inside identifiers (a person's enrolment is keyed
 * "<national ID>:<programme>"): mask them in every string left. */
static void mask_embedded_ids(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		char *text = strdup(json_string_value(j));

		if (text && cps_mask_national_ids_in(text))
			json_string_set(j, text);
		free(text);
	} else if (json_is_object(j)) {
		json_object_foreach (j, k, v)
			mask_embedded_ids(v);
	} else if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			mask_embedded_ids(v);
	}
}

int cps_api_sees_unmasked(unsigned roles)
{
	return (roles & CPS_ROLE_STEWARD) != 0;
}

/* An audit entry's value for a viewer: an object keyed by field names
 * keeps the allowed ones; a single field's value stays only when that field
 * is allowed. */
static void viewer_audit_value(const struct cps_schema *s, const char *field, json_t *e,
                               const char *name)
{
	json_t *v = json_object_get(e, name);

	if (!v || json_is_null(v))
		return;
	if (field && !cps_api_viewer_may_see(s, field))
		json_object_set_new(e, name, json_null());
	else if (!field && json_is_object(v))
		keep_visible(s, v);
}

void cps_api_viewer_audit_entry(struct cps_catalog *catalog, json_t *e)
{
	const char *entity = json_string_value(json_object_get(e, "entity"));
	const char *field = json_string_value(json_object_get(e, "field"));
	const struct cps_schema *s = entity ? cps_catalog_by_entity(catalog, entity) : NULL;
	const char *key_field = entity ? cps_entity_key_field(entity) : NULL;
	json_t *key = json_object_get(e, "key");

	if (s) {
		/* a record's entry: its values as the viewer sees the record,
		 * without the steward's free-text reason */
		viewer_audit_value(s, field, e, "before");
		viewer_audit_value(s, field, e, "after");
		json_object_del(e, "reason");
		if (json_is_string(key) && !(key_field && cps_api_viewer_may_see(s, key_field))) {
			char *text = strdup(json_string_value(key));

			/* a personal key: its national IDs masked, else all of it */
			json_object_set_new(
			    e, "key",
			    json_string(text && cps_mask_national_ids_in(text) ? text : "***"));
			free(text);
		}
	}
	mask_embedded_ids(e);
}

void cps_api_viewer_view(const struct cps_schema *s, json_t *o)
{
	const char *pn;
	json_t *p, *h, *c, *kept;
	size_t i;

	keep_visible(s, json_object_get(o, "record"));
	keep_visible_provenance(s, json_object_get(o, "provenance"));
	json_object_foreach (json_object_get(o, "platforms"), pn, p)
		keep_visible(s, json_object_get(p, "fields"));
	kept = json_array();
	json_array_foreach (json_object_get(o, "conflicts"), i, c) {
		const char *field = json_string_value(json_object_get(c, "field"));

		if (kept && field && cps_api_viewer_may_see(s, field))
			json_array_append(kept, c);
	}
	if (kept && json_object_get(o, "conflicts"))
		json_object_set(o, "conflicts", kept);
	json_decref(kept);
	json_array_foreach (json_object_get(o, "history"), i, h) {
		keep_visible(s, json_object_get(h, "record"));
		keep_visible_provenance(s, json_object_get(h, "provenance"));
		keep_visible_names(s, json_object_get(h, "changed_fields"));
	}
	mask_embedded_ids(o);
}

static void records_show(void *ctx, const struct cps_http_request *req,
                         struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	const char *entity = cps_http_param(req, "entity"), *key = cps_http_param(req, "key");
	const struct cps_schema *schema;
	const char *key_field;
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	json_t *rec = NULL;
	int64_t limit;
	int why = 0, rc, full;

	if (cps_api_enter(api, resp))
		return;
	if (!cps_api_name_ok(entity) || !(schema = cps_catalog_by_entity(api->catalog, entity))) {
		cps_http_reply_error(resp, 404, "unknown entity");
		goto out;
	}
	if (!key || !*key || strlen(key) > 512) {
		cps_http_reply_error(resp, 400, "the record key must be 1 to 512 bytes");
		goto out;
	}
	full = cps_api_sees_unmasked(req->roles);
	key_field = cps_entity_key_field(entity);
	if (!full && !(key_field && cps_api_viewer_may_see(schema, key_field))) {
		/* before the store is asked: the same answer for every key, so
		 * a viewer cannot test who is registered */
		cps_http_reply_error(
		    resp, 403,
		    "a viewer or operator cannot look %s records up: their key is personal data",
		    entity);
		goto out;
	}
	if (cps_api_query_int(req, resp, "history_limit", 0, CPS_API_LIMIT_MAX, HISTORY_DEFAULT,
	                      &limit) ||
	    cps_api_scope(api, req, resp, &scope))
		goto out;
	rc = cps_steward_record_get(api->store, entity, key, scope, (int)limit, &rec, &why, errstr,
	                            sizeof(errstr));
	if (rc != CPS_OK) {
		cps_api_reply_store_error(resp, rc, why, errstr);
		goto out;
	}
	if (!full)
		cps_api_viewer_view(schema, rec);
	json_object_set_new(rec, "masked", json_boolean(!full));
	cps_http_reply_json(resp, 200, rec);
out:
	free(scope);
	cps_api_leave(api);
}

int cps_api_records_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                             size_t errstr_size)
{
	return cps_http_route(server, "GET", "/api/v1/records/{entity}/{key}", records_show, api,
	                      CPS_ROLE_ANY, errstr, errstr_size);
}
