/*
 * Region scopes of steward and viewer tokens (http.tokens.*.regions): which
 * fields of each entity hold a region code (the schema catalog's
 * "cpsync.region" attribute) and the scope a request's token carries, in
 * the JSON form the steward store filters by (store_steward.h).
 */
#include "api/api_int.h"

#include "base/common.h"
#include "model/entity.h"

#include <stdlib.h>
#include <string.h>

json_t *cps_api_region_fields(struct cps_catalog *catalog)
{
	json_t *out = json_object();

	for (size_t e = 0; out && e < CPS_N_ENTITIES; e++) {
		const struct cps_schema *s = cps_catalog_by_entity(catalog, cps_entities[e]);
		json_t *names = json_array(), *f;
		size_t i;

		if (!names || json_object_set_new(out, cps_entities[e], names)) {
			json_decref(out);
			return NULL;
		}
		json_array_foreach (s ? json_object_get(s->json, "fields") : NULL, i, f) {
			json_t *name = json_object_get(f, "name");

			if (json_is_string(name) &&
			    json_is_true(json_object_get(f, "cpsync.region")) &&
			    json_array_append(names, name)) {
				json_decref(out);
				return NULL;
			}
		}
	}
	return out;
}

int cps_api_scope(struct cps_api *api, const struct cps_http_request *req,
                  struct cps_http_response *resp, char **out)
{
	json_t *prefixes, *doc;
	const char *p = req->regions;

	*out = NULL;
	if (!p || !*p)
		return 0;
	prefixes = json_array();
	while (prefixes && *p) {
		size_t n = strcspn(p, ",");

		if (json_array_append_new(prefixes, json_stringn(p, n))) {
			json_decref(prefixes);
			prefixes = NULL;
			break;
		}
		p += n + (p[n] == ',');
	}
	doc = prefixes ? json_pack("{s:O, s:o}", "fields", api->region_fields, "prefixes", prefixes)
	               : NULL;
	*out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!*out) {
		/* never answered unscoped: a scoped token with no scope sees nothing */
		cps_http_reply_error(resp, 500, "out of memory");
		return -1;
	}
	return 0;
}
