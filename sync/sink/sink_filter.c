/*
 * What a sink never receives (sink_runner.h): echoes of changes that came
 * from its own platform (the no-echo rule, cps_sink_is_echo) and fields
 * outside its allow-list (cps_sink_apply_allow). Pure functions.
 */
#include "sink/sink_runner.h"
#include "base/comma_list.h"
#include "base/common.h"

#include <string.h>
#include <strings.h>

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

	json_array_foreach (provenance, i, e) {
		if (json_is_string(json_object_get(e, "field")) &&
		    !strcmp(json_string_value(json_object_get(e, "field")), field))
			return e;
	}
	return NULL;
}

/* Whether the event's prior_platforms (cpsync.Platform symbols) name P. */
static bool prior_names(json_t *event, const char *platform)
{
	json_t *p;
	size_t i;

	json_array_foreach (json_object_get(event, "prior_platforms"), i, p) {
		if (json_is_string(p) && !strcasecmp(json_string_value(p), platform))
			return true;
	}
	return false;
}

bool cps_sink_is_echo(json_t *event, const char *platform)
{
	json_t *prov = json_object_get(event, "provenance");
	json_t *changed_fields = json_object_get(event, "changed_fields");
	const char *op = json_string_value(json_object_get(event, "operation"));
	char name[CPS_PLATFORM_MAX];
	size_t i, attributed = 0;
	json_t *f;

	if (op && !strcmp(op, "DELETE"))
		return prior_names(event, platform);
	json_array_foreach (changed_fields, i, f) {
		json_t *e = json_is_string(f) ? prov_entry(prov, json_string_value(f)) : NULL;
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
	/* unknown: an echo only when P already holds every value */
	json_array_foreach (prov, i, f) {
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
	size_t n = strlen(name), len;
	const char *elem;

	while (cps_comma_list_next(&list, &elem, &len))
		if (len == n && !strncmp(elem, name, n))
			return true;
	return false;
}

static bool type_nullable(json_t *type)
{
	size_t i;
	json_t *t;

	if (!json_is_array(type))
		return json_is_string(type) && !strcmp(json_string_value(type), "null");
	json_array_foreach (type, i, t) {
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

	json_array_foreach (decl, i, fd) {
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
