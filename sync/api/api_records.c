/*
 * Steward API, records (GET /api/v1/records/{entity}/{key}): the unified
 * record with per-field provenance, each platform's last-seen values, its
 * live conflicts and history. Stewards and operators see it whole; viewers
 * get the personal fields of the table below masked, wherever they appear.
 */
#include "api/api_int.h"

#include "base/common.h"
#include "base/log.h"
#include "base/pii.h"

#include <string.h>

#define FAC "API"

#define HISTORY_DEFAULT 20

/* Personal fields by entity, masked for the viewer role: national IDs,
 * names, phones, addresses, incomes and amounts (and anything holding
 * them, such as household members and verification items). */
static const struct masked_entity {
	const char *entity;
	int key_is_personal; /* the key itself is a national ID */
	const char *fields[8];
} MASKED[] = {
    {"person", 1, {"national_id", "name", "phone", "residence_address", "birth_date", NULL}},
    {"household", 0, {"head_national_id", "members", "per_capita_monthly_income", NULL}},
    {"enrolment", 0, {"subject_id", "monthly_amount", NULL}},
    {"verification",
     0,
     {"items", "counted_income_total", "employment_cost_deduction", "per_capita_income", NULL}},
    {"alert", 0, {"subject_id", NULL}},
};

static const struct masked_entity *masked_of(const char *entity)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(MASKED); i++)
		if (!strcmp(MASKED[i].entity, entity))
			return &MASKED[i];
	return NULL;
}

static int is_masked(const struct masked_entity *m, const char *field)
{
	for (size_t i = 0; m && m->fields[i]; i++)
		if (!strcmp(m->fields[i], field))
			return 1;
	return 0;
}

/* Replaces the masked fields of an Avro JSON record object. */
static void mask_record(const struct masked_entity *m, json_t *rec)
{
	const char *k;
	json_t *v;

	if (!json_is_object(rec))
		return;
	json_object_foreach (rec, k, v)
		if (is_masked(m, k) && !json_is_null(v))
			json_object_set_new(rec, k, json_string("***"));
}

/* Provenance may carry a steward's free-text reason: not for viewers. */
static void mask_provenance(json_t *prov)
{
	const char *k;
	json_t *v;

	json_object_foreach (prov, k, v)
		json_object_del(v, "reason");
}

/* National IDs also hide inside identifiers that are not personal fields
 * (a person's enrolment is keyed "<national ID>:<programme>"): mask them
 * in every string of the viewer's document. */
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

static void mask_view(const struct masked_entity *m, json_t *o, const char *masked_key)
{
	const char *pn, *f;
	json_t *p, *fv, *h, *c;
	size_t i;

	json_object_set_new(o, "key", json_string(masked_key));
	mask_record(m, json_object_get(o, "record"));
	mask_provenance(json_object_get(o, "provenance"));
	json_object_foreach (json_object_get(o, "platforms"), pn, p) {
		json_object_foreach (json_object_get(p, "fields"), f, fv) {
			if (is_masked(m, f) && json_is_object(fv))
				json_object_set_new(fv, "v", json_string("***"));
		}
	}
	json_array_foreach (json_object_get(o, "conflicts"), i, c)
		json_object_set_new(c, "key", json_string(masked_key));
	json_array_foreach (json_object_get(o, "history"), i, h) {
		mask_record(m, json_object_get(h, "record"));
		mask_provenance(json_object_get(h, "provenance"));
	}
	mask_embedded_ids(o);
}

static void records_show(void *ctx, const struct cps_http_request *req,
                         struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	const char *entity = cps_http_param(req, "entity"), *key = cps_http_param(req, "key");
	char errstr[CPS_ERRSTR_SIZE], masked_key[CPS_MASK_SIZE];
	json_t *rec = NULL;
	int64_t limit;
	int why = 0, rc, full;

	if (cps_api_enter(api, resp))
		return;
	if (!cps_api_name_ok(entity) || !cps_catalog_by_entity(api->catalog, entity)) {
		cps_http_reply_error(resp, 404, "unknown entity");
		goto out;
	}
	if (!key || !*key || strlen(key) > 512) {
		cps_http_reply_error(resp, 400, "the record key must be 1 to 512 bytes");
		goto out;
	}
	if (cps_api_query_int(req, resp, "history_limit", 0, CPS_API_LIMIT_MAX, HISTORY_DEFAULT,
	                      &limit))
		goto out;
	rc = cps_steward_record_get(api->store, entity, key, (int)limit, &rec, &why, errstr,
	                            sizeof(errstr));
	if (rc != CPS_OK) {
		cps_api_reply_store_error(resp, rc, why, errstr);
		goto out;
	}
	full = (req->roles & (CPS_ROLE_STEWARD | CPS_ROLE_OPERATOR)) != 0;
	if (!full) {
		const struct masked_entity *m = masked_of(entity);

		if (m && m->key_is_personal)
			cps_mask_national_id(key, masked_key, sizeof(masked_key));
		else
			snprintf(masked_key, sizeof(masked_key), "%.*s",
			         (int)sizeof(masked_key) - 1, key);
		mask_view(m, rec, masked_key);
	}
	json_object_set_new(rec, "masked", json_boolean(!full));
	cps_http_reply_json(resp, 200, rec);
out:
	cps_api_leave(api);
}

int cps_api_records_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                             size_t errstr_size)
{
	return cps_http_route(server, "GET", "/api/v1/records/{entity}/{key}", records_show, api,
	                      CPS_ROLE_ANY, errstr, errstr_size);
}
