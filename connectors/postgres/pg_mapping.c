/*
 * The table/column -> entity/field mapping of the postgres connector, read
 * from its flat settings (table.<schema.table>.entity / .key / .column.<col>
 * / .increment_column / .timestamp_column / .effective_column) and checked
 * against the catalog.
 * The conversion of values is in pg_text_json.c and pg_row_fill.c.
 */
#include "connectors/postgres/pg_mapping_int.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "type" of schema field `name`, or NULL. */
json_t *cps_pg_field_type(const struct cps_schema *schema, const char *name)
{
	json_t *fields = json_object_get(schema->json, "fields"), *f;
	size_t i;

	json_array_foreach (fields, i, f) {
		if (!strcmp(json_string_value(json_object_get(f, "name")), name))
			return json_object_get(f, "type");
	}
	return NULL;
}

const char *cps_pg_table_field(const struct cps_pg_table *t, const char *column)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (!strcmp(t->cols[i].column, column))
			return t->cols[i].field;
	return cps_pg_field_type(t->schema, column) ? column : NULL;
}

static const char *const table_suffixes[] = {".entity",           ".key",
                                             ".increment_column", ".timestamp_column",
                                             ".effective_column", ".deleted_column"};

/* Writes `s` quoted for SQL (inner quotes doubled) at `p`; returns its end. */
static char *put_ident(char *p, const char *s)
{
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	return p;
}

/* `"nsp"."rel"` for SQL, in the arena; NULL when memory is out. */
static char *quote_qualified(struct cps_arena *a, const char *nsp, const char *rel)
{
	char *q = cps_arena_alloc(a, (strlen(nsp) + strlen(rel)) * 2 + 6), *p;

	if (!q)
		return NULL;
	p = put_ident(q, nsp);
	*p++ = '.';
	p = put_ident(p, rel);
	*p = '\0';
	return q;
}

static struct cps_pg_table *table_get(struct cps_pg_mapping *m, const char *name, size_t len)
{
	char buf[256];
	char *dot;
	const char *nsp = "public", *rel = buf;
	struct cps_pg_table *t;

	if (len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	dot = strchr(buf, '.');
	if (dot) {
		*dot = '\0';
		nsp = buf;
		rel = dot + 1;
	}
	t = cps_pg_mapping_find(m, nsp, rel);
	if (t)
		return t;
	t = realloc(m->tables, (m->n + 1) * sizeof(*t));
	if (!t)
		return NULL;
	m->tables = t;
	t = &m->tables[m->n];
	memset(t, 0, sizeof(*t));
	t->nspname = cps_arena_strdup(&m->strings, nsp);
	t->relname = cps_arena_strdup(&m->strings, rel);
	if (!t->nspname || !t->relname)
		return NULL;
	m->n++;
	return t;
}

void cps_pg_mapping_free(struct cps_pg_mapping *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		cps_pg_table_unprepare(&m->tables[i]);
		free(m->tables[i].cols);
	}
	free(m->tables);
	cps_arena_release(&m->strings);
	free(m);
}

struct cps_pg_table *cps_pg_mapping_find(struct cps_pg_mapping *m, const char *nspname,
                                         const char *relname)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->tables[i].nspname, nspname) &&
		    !strcmp(m->tables[i].relname, relname))
			return &m->tables[i];
	return NULL;
}

/* One "table.<t>.<what>" setting into the mapping. */
static int table_setting(struct cps_pg_mapping *m, const char *key, const char *value, char *errstr,
                         size_t errstr_size)
{
	const char *rest = key + strlen("table."), *col = strstr(rest, ".column.");
	struct cps_pg_table *t;
	char **slot = NULL;

	if (col) {
		struct cps_pg_colmap *c;

		t = table_get(m, rest, (size_t)(col - rest));
		if (!t || !col[8] || !*value)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting '%s' is not a column mapping", key);
		c = realloc(t->cols, (t->n_cols + 1) * sizeof(*c));
		if (!c)
			goto out_oom;
		t->cols = c;
		c[t->n_cols].column = cps_arena_strdup(&m->strings, col + 8);
		c[t->n_cols].field = cps_arena_strdup(&m->strings, value);
		t->n_cols++;
		if (!c[t->n_cols - 1].column || !c[t->n_cols - 1].field)
			goto out_oom;
		return CPS_OK;
	}
	for (size_t i = 0; i < CPS_ARRAY_SIZE(table_suffixes); i++) {
		size_t sl = strlen(table_suffixes[i]), rl = strlen(rest);

		if (rl <= sl || strcmp(rest + rl - sl, table_suffixes[i]))
			continue;
		t = table_get(m, rest, rl - sl);
		if (!t)
			break;
		slot = i == 0   ? &t->entity
		       : i == 1 ? &t->key_column
		       : i == 2 ? &t->increment_column
		       : i == 3 ? &t->timestamp_column
		       : i == 4 ? &t->effective_column
		                : &t->deleted_column;
		break;
	}
	if (!slot)
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "setting '%s' is not table.<schema.table>.entity, .key, .column.<name>, .increment_column, .timestamp_column, .effective_column or .deleted_column",
		    key);
	*slot = cps_arena_strdup(&m->strings, value);
	if (!*slot)
		goto out_oom;
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_pg_mapping_from_settings(const struct cps_settings *s, struct cps_catalog *catalog,
                                 struct cps_pg_mapping **out, char *errstr, size_t errstr_size)
{
	struct cps_pg_mapping *m = calloc(1, sizeof(*m));
	const struct cps_setting *kv;
	size_t it = 0;
	int rc = CPS_OK;

	*out = NULL;
	if (!m)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_arena_init(&m->strings, 1024);
	while ((kv = cps_settings_next(s, "table.", &it)))
		if ((rc = table_setting(m, kv->key, kv->value, errstr, errstr_size)) != CPS_OK)
			goto out_free;
	if (m->n == 0) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "no table mapped: set table.<schema.table>.entity");
		goto out_free;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct cps_pg_table *t = &m->tables[i];

		if (!t->entity) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "table '%s.%s' has no entity setting", t->nspname,
			                t->relname);
			goto out_free;
		}
		t->schema = cps_catalog_by_entity(catalog, t->entity);
		if (!t->schema) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "table '%s.%s': unknown entity '%s'", t->nspname,
			                t->relname, t->entity);
			goto out_free;
		}
		for (size_t j = 0; j < t->n_cols; j++)
			if (!cps_pg_field_type(t->schema, t->cols[j].field)) {
				rc = cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
				    "table '%s.%s': column '%s' maps to '%s', not a field of entity '%s'",
				    t->nspname, t->relname, t->cols[j].column, t->cols[j].field,
				    t->entity);
				goto out_free;
			}
		if (!t->key_column) {
			/* the key is the schema's first field, fed by the column of that name */
			json_t *f0 = json_array_get(json_object_get(t->schema->json, "fields"), 0);
			const char *kf = json_string_value(json_object_get(f0, "name"));

			for (size_t j = 0; kf && j < t->n_cols; j++)
				if (!strcmp(t->cols[j].field, kf))
					kf = t->cols[j].column;
			t->key_column = cps_arena_strdup(&m->strings, kf);
			if (!t->key_column) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "table '%s.%s' has no key", t->nspname, t->relname);
				goto out_free;
			}
		}
		if (!!t->increment_column != !!t->timestamp_column) {
			rc = cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "table '%s.%s': polling needs both increment_column and timestamp_column",
			    t->nspname, t->relname);
			goto out_free;
		}
		t->qualified = quote_qualified(&m->strings, t->nspname, t->relname);
		if (!t->qualified) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out_free;
		}
	}
	*out = m;
	return CPS_OK;
out_free:
	cps_pg_mapping_free(m);
	return rc;
}
