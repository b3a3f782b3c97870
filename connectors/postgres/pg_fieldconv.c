/*
 * The conversion table of a mapped table (cps_pg_table_prepare): per schema
 * field, how a column's text becomes its Avro value on the hot path
 * (pg_row_fill.c) and the field's default, built once per table.
 */
#include "connectors/postgres/pg_mapping_int.h"

#include "base/common.h"
#include "codec/avro_json_int.h"

#include <stdlib.h>
#include <string.h>

void cps_pg_table_unprepare(struct cps_pg_table *t)
{
	if (t->defaults.iface)
		avro_value_decref(&t->defaults);
	memset(&t->defaults, 0, sizeof(t->defaults));
	cps_json_names_free(t->names);
	t->names = NULL;
	free(t->conv);
	t->conv = NULL;
	free(t->holds_default);
	t->holds_default = NULL;
	t->n_fields = 0;
}

/* The conversion of one field, mirroring cps_pg_text_to_json: the fast
 * kinds are strings, enums, booleans, integers (with date/time/timestamp
 * logical types) and floats, bare or in a union; the rest go the JSON way. */
static void conv_init(const struct cps_schema *schema, json_t *field, struct cps_pg_fieldconv *c)
{
	json_t *r, *inner, *b;
	const char *w, *lt;
	size_t i;

	c->name = json_string_value(json_object_get(field, "name"));
	c->type = json_object_get(field, "type");
	c->kind = CK_SLOW;
	c->lt = LT_NONE;
	c->null_branch = c->value_branch = -1;
	r = inner = cps_pg_type_resolve(schema, c->type);
	if (json_is_array(r)) {
		c->is_union = true;
		json_array_foreach (r, i, b) {
			if (json_is_string(b) && !strcmp(json_string_value(b), "null")) {
				if (c->null_branch < 0)
					c->null_branch = (int)i;
			} else if (c->value_branch < 0) {
				c->value_branch = (int)i;
			}
		}
		inner =
		    c->value_branch >= 0
		        ? cps_pg_type_resolve(schema, json_array_get(r, (size_t)c->value_branch))
		        : NULL;
		if (!inner || json_is_array(inner))
			return;
	}
	w = cps_pg_type_word(inner);
	lt = cps_pg_type_logical(inner);
	if (!strcmp(w, "string")) {
		c->kind = CK_STRING;
	} else if (!strcmp(w, "enum") && json_is_array(json_object_get(inner, "symbols"))) {
		c->kind = CK_ENUM;
		c->symbols = json_object_get(inner, "symbols");
	} else if (!strcmp(w, "boolean")) {
		c->kind = CK_BOOL;
	} else if (!strcmp(w, "int") || !strcmp(w, "long")) {
		c->kind = !strcmp(w, "int") ? CK_INT : CK_LONG;
		if (!strcmp(lt, "date"))
			c->lt = LT_DATE;
		else if (!strcmp(lt, "time-millis"))
			c->lt = LT_TIME_MILLIS;
		else if (!strcmp(lt, "time-micros"))
			c->lt = LT_TIME_MICROS;
		else if (strstr(lt, "timestamp-"))
			c->lt = strstr(lt, "millis") ? LT_TS_MILLIS : LT_TS_MICROS;
	} else if (!strcmp(w, "float")) {
		c->kind = CK_FLOAT;
	} else if (!strcmp(w, "double")) {
		c->kind = CK_DOUBLE;
	}
}

int cps_pg_table_prepare(struct cps_pg_table *t, char *errstr, size_t errstr_size)
{
	json_t *fields = json_object_get(t->schema->json, "fields"), *f;
	size_t i;

	if (t->conv)
		return CPS_OK;
	t->n_fields = json_array_size(fields);
	t->conv = calloc(t->n_fields + 1, sizeof(*t->conv));
	t->holds_default = calloc(t->n_fields + 1, 1);
	t->names = cps_json_names_new(t->schema->json);
	if (!t->conv || !t->holds_default || !t->names)
		goto out_oom;
	if (avro_generic_value_new(t->schema->iface, &t->defaults) != 0) {
		cps_pg_table_unprepare(t);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "cannot create a value of entity '%s': %s", t->entity,
		                  avro_strerror());
	}
	json_array_foreach (fields, i, f) {
		struct cps_pg_fieldconv *c = &t->conv[i];
		json_t *d = json_object_get(f, "default");
		avro_value_t dv;

		conv_init(t->schema, f, c);
		if (d && avro_value_get_by_index(&t->defaults, i, &dv, NULL) == 0) {
			struct cps_json_path path;
			char why[CPS_ERRSTR_SIZE];

			cps_json_path_init(&path);
			c->has_default =
			    cps_json_fill(t->names, d, 1, &dv, &path, why, sizeof(why)) == CPS_OK;
		}
	}
	return CPS_OK;
out_oom:
	cps_pg_table_unprepare(t);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}
