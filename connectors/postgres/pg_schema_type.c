/*
 * Reading an entity schema's JSON types for the postgres mapping: a named
 * type resolved to its definition, a type's word and logical type, and the
 * name a union branch goes by in Avro JSON. Shared by the text -> Avro JSON
 * conversion (pg_text_json.c) and the field conversion table (pg_fieldconv.c).
 */
#include "connectors/postgres/pg_mapping_int.h"

#include "base/common.h"

#include <string.h>

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static bool is_primitive(const char *name)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(primitives); i++)
		if (!strcmp(primitives[i], name))
			return true;
	return false;
}

static const char *short_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot + 1 : name;
}

/* The definition of named type `name` anywhere in `j`, or NULL. */
static json_t *find_named(json_t *j, const char *name)
{
	if (json_is_object(j)) {
		json_t *n = json_object_get(j, "name"), *t = json_object_get(j, "type");
		const char *k;
		json_t *v;

		if (json_is_string(n) && json_is_string(t) &&
		    (!strcmp(json_string_value(t), "record") ||
		     !strcmp(json_string_value(t), "enum") ||
		     !strcmp(json_string_value(t), "fixed")) &&
		    !strcmp(short_name(json_string_value(n)), short_name(name)))
			return j;
		json_object_foreach (j, k, v) {
			json_t *f = find_named(v, name);

			if (f)
				return f;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;

		json_array_foreach (j, i, v) {
			json_t *f = find_named(v, name);

			if (f)
				return f;
		}
	}
	return NULL;
}

/* A type with references resolved one level: a string naming a defined type
 * becomes its definition; {"type": "int"} without attributes stays. */
json_t *cps_pg_type_resolve(const struct cps_schema *schema, json_t *type)
{
	if (json_is_string(type) && !is_primitive(json_string_value(type))) {
		json_t *def = find_named(schema->json, json_string_value(type));

		return def ? def : type;
	}
	return type;
}

/* "type" word of a resolved type: a primitive, record, enum, fixed, array,
 * map, or "union" for a JSON array. */
const char *cps_pg_type_word(json_t *type)
{
	if (json_is_string(type))
		return json_string_value(type);
	if (json_is_array(type))
		return "union";
	if (json_is_object(type)) {
		json_t *t = json_object_get(type, "type");

		if (json_is_string(t))
			return json_string_value(t);
	}
	return "";
}

const char *cps_pg_type_logical(json_t *type)
{
	json_t *l = json_is_object(type) ? json_object_get(type, "logicalType") : NULL;

	return json_is_string(l) ? json_string_value(l) : "";
}

/* The name a union branch goes by in Avro JSON. */
const char *cps_pg_type_branch_name(json_t *branch)
{
	if (json_is_object(branch)) {
		const char *w = cps_pg_type_word(branch);
		json_t *n = json_object_get(branch, "name");

		if ((!strcmp(w, "record") || !strcmp(w, "enum") || !strcmp(w, "fixed")) &&
		    json_is_string(n))
			return json_string_value(n);
		return w;
	}
	return json_is_string(branch) ? json_string_value(branch) : "";
}
