/*
 * The postgres sink's statements (pg_sink_stmt.h): the parameters and shape
 * of each change, the text of a shape (INSERT ... ON CONFLICT ... or
 * DELETE), and the shapes prepared on the sink's connection, looked up by
 * the shape's key so that a row of a known shape costs the server only an
 * execution.
 */
#include "connectors/postgres/pg_sink_stmt.h"
#include "base/common.h"
#include "store/pgerr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_sink_stmt_release(struct pg_sink_stmt *s)
{
	free(s->params);
	free(s->columns);
	pg_sink_record_release(&s->rec);
	cps_buf_release(&s->shape);
	cps_buf_release(&s->sql);
	memset(s, 0, sizeof(*s));
}

/* The column a field is written to; NULL when it is not written (mapped to
 * "", or the key or version column, which the statement sets itself). */
static const char *mapped_column(const struct pg_sink_target *t, const char *entity,
                                 const char *field)
{
	char ckey[256];
	const char *column;

	snprintf(ckey, sizeof(ckey), "column.%s.%s", entity, field);
	column = cps_settings_get(t->map, ckey);
	if (!column)
		column = field;
	if (!*column || !strcmp(column, t->key_column) || !strcmp(column, t->version_column))
		return NULL;
	return column;
}

int pg_sink_stmt_build(const struct pg_sink_target *t, const struct pg_sink_change *p,
                       struct pg_sink_stmt *s, char *errstr, size_t errstr_size)
{
	size_t n_fields;

	memset(s, 0, sizeof(*s));
	cps_buf_init(&s->shape, 0);
	cps_buf_init(&s->sql, 0);
	snprintf(s->version, sizeof(s->version), "%" PRId64, p->version);
	if (!p->is_delete) {
		int rc = pg_sink_record_read(p->json, strlen(p->json), &s->rec);

		if (rc == PG_SINK_RECORD_OOM)
			goto out_oom;
		if (rc != PG_SINK_RECORD_OK)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "a '%s' record is not a JSON object", p->entity);
	}
	n_fields = s->rec.n;
	s->params = calloc(n_fields + 2, sizeof(*s->params));
	s->columns = calloc(n_fields + 1, sizeof(*s->columns));
	if (!s->params || !s->columns)
		goto out_oom;
	s->params[0] = p->key;
	s->params[1] = s->version;
	s->n_params = 2;
	if (cps_buf_append_byte(&s->shape, p->is_delete ? 'D' : 'U') < 0 ||
	    cps_buf_append(&s->shape, p->entity, strlen(p->entity) + 1) < 0)
		goto out_oom;
	if (p->is_delete)
		return CPS_OK;
	for (size_t i = 0; i < n_fields; i++) {
		const char *column = mapped_column(t, p->entity, s->rec.m[i].name);

		if (!column)
			continue;
		s->params[s->n_params++] = s->rec.m[i].value;
		s->columns[s->n_columns++] = column;
		if (cps_buf_append(&s->shape, column, strlen(column) + 1) < 0)
			goto out_oom;
	}
	return CPS_OK;

out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* "schema.table" quoted as "schema"."table". */
static int quote_table(PGconn *db, const char *name, struct cps_buf *sql)
{
	const char *dot = strchr(name, '.');
	char *a, *b = NULL;
	int rc;

	a = dot ? PQescapeIdentifier(db, name, (size_t)(dot - name))
	        : PQescapeIdentifier(db, name, strlen(name));
	if (dot)
		b = PQescapeIdentifier(db, dot + 1, strlen(dot + 1));
	if (!a || (dot && !b))
		rc = -1;
	else
		rc = dot ? cps_buf_printf(sql, "%s.%s", a, b) : cps_buf_printf(sql, "%s", a);
	PQfreemem(a);
	PQfreemem(b);
	return rc;
}

static int append_ident(PGconn *db, struct cps_buf *sql, const char *name)
{
	char *q = PQescapeIdentifier(db, name, strlen(name));
	int rc = q ? cps_buf_printf(sql, "%s", q) : -1;

	PQfreemem(q);
	return rc;
}

/* The text of s's shape into s->sql, $1 the key and $2 the version, $3...
 * the mapped columns: the server casts the text values to each column's
 * type. -1 when memory is out. */
static int shape_sql(const struct pg_sink_target *t, const struct pg_sink_change *p,
                     struct pg_sink_stmt *s)
{
	char tkey[128];
	const char *table;
	struct cps_buf cols, vals, sets;
	PGconn *db = t->db;
	int rc = 0;

	snprintf(tkey, sizeof(tkey), "table.%s", p->entity);
	table = cps_settings_get(t->map, tkey);
	if (!table) /* the sink's put refuses such a change */
		return -1;
	cps_buf_reset(&s->sql);
	if (p->is_delete)
		return cps_buf_printf(&s->sql, "DELETE FROM ") < 0 ||
		               quote_table(db, table, &s->sql) < 0 ||
		               cps_buf_printf(&s->sql, " WHERE ") < 0 ||
		               append_ident(db, &s->sql, t->key_column) < 0 ||
		               cps_buf_printf(&s->sql, " = $1 AND ") < 0 ||
		               append_ident(db, &s->sql, t->version_column) < 0 ||
		               cps_buf_printf(&s->sql, " < $2::bigint") < 0
		           ? -1
		           : 0;
	cps_buf_init(&cols, 0);
	cps_buf_init(&vals, 0);
	cps_buf_init(&sets, 0);
	if (append_ident(db, &cols, t->key_column) < 0 || cps_buf_printf(&cols, ", ") < 0 ||
	    append_ident(db, &cols, t->version_column) < 0 ||
	    cps_buf_printf(&vals, "$1, $2::bigint") < 0 ||
	    append_ident(db, &sets, t->version_column) < 0 ||
	    cps_buf_printf(&sets, " = EXCLUDED.") < 0 ||
	    append_ident(db, &sets, t->version_column) < 0)
		rc = -1;
	for (size_t i = 0; i < s->n_columns && rc == 0; i++) {
		const char *column = s->columns[i];

		if (cps_buf_printf(&cols, ", ") < 0 || append_ident(db, &cols, column) < 0 ||
		    cps_buf_printf(&vals, ", $%zu", i + 3) < 0 || cps_buf_printf(&sets, ", ") < 0 ||
		    append_ident(db, &sets, column) < 0 ||
		    cps_buf_printf(&sets, " = EXCLUDED.") < 0 ||
		    append_ident(db, &sets, column) < 0)
			rc = -1;
	}
	if (rc == 0 &&
	    (cps_buf_printf(&s->sql, "INSERT INTO ") < 0 || quote_table(db, table, &s->sql) < 0 ||
	     cps_buf_printf(&s->sql, " AS t (%s) VALUES (%s) ON CONFLICT (",
	                    (const char *)cols.data, (const char *)vals.data) < 0 ||
	     append_ident(db, &s->sql, t->key_column) < 0 ||
	     cps_buf_printf(&s->sql, ") DO UPDATE SET %s WHERE t.", (const char *)sets.data) < 0 ||
	     append_ident(db, &s->sql, t->version_column) < 0 ||
	     cps_buf_printf(&s->sql, " < EXCLUDED.") < 0 ||
	     append_ident(db, &s->sql, t->version_column) < 0))
		rc = -1;
	cps_buf_release(&cols);
	cps_buf_release(&vals);
	cps_buf_release(&sets);
	return rc;
}

/* FNV-1a: shapes are few and looked up once per row. */
static uint64_t shape_hash(const uint8_t *key, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return h;
}

/* Prepares s->sql as a new shape of the cache; its name into s. */
static int shape_prepare(struct pg_sink_shapes *c, const struct pg_sink_target *t,
                         struct pg_sink_stmt *s, uint64_t hash, char *why, size_t why_size)
{
	struct pg_sink_shape *sh;
	PGresult *res;
	int rc;

	if (cps_grow(&c->v, &c->cap, c->n + 1, sizeof(*c->v)) != 0)
		goto out_oom;
	sh = &c->v[c->n];
	memset(sh, 0, sizeof(*sh));
	if (!(sh->key = malloc(s->shape.len)))
		goto out_oom;
	memcpy(sh->key, s->shape.data, s->shape.len);
	sh->key_len = s->shape.len;
	sh->hash = hash;
	snprintf(sh->name, sizeof(sh->name), "cps_sink_%" PRIu64, c->next_name++);
	res = PQprepare(t->db, sh->name, (const char *)s->sql.data, s->n_params, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		cps_pg_safe_message(res, t->db, why, why_size);
		rc = pg_sink_upsert_error(res);
		PQclear(res);
		free(sh->key);
		return rc;
	}
	PQclear(res);
	c->n++;
	c->prepared++;
	memcpy(s->name, sh->name, sizeof(s->name));
	cps_buf_release(&s->sql);
	return CPS_OK;

out_oom:
	snprintf(why, why_size, "out of memory");
	return CPS_ERR_FATAL;
}

int pg_sink_stmt_resolve(struct pg_sink_shapes *c, const struct pg_sink_target *t,
                         const struct pg_sink_change *p, struct pg_sink_stmt *s, char *why,
                         size_t why_size)
{
	uint64_t hash = shape_hash(s->shape.data, s->shape.len);

	for (size_t i = 0; i < c->n; i++) {
		const struct pg_sink_shape *sh = &c->v[i];

		if (sh->hash == hash && sh->key_len == s->shape.len &&
		    !memcmp(sh->key, s->shape.data, sh->key_len)) {
			memcpy(s->name, sh->name, sizeof(s->name));
			return CPS_OK;
		}
	}
	if (shape_sql(t, p, s) < 0) {
		snprintf(why, why_size, "out of memory");
		return CPS_ERR_FATAL;
	}
	if (c->n >= PG_SINK_MAX_SHAPES)
		return CPS_OK; /* sent as text until the next flush starts the cache over */
	return shape_prepare(c, t, s, hash, why, why_size);
}

int pg_sink_stmt_send(PGconn *db, const struct pg_sink_stmt *s)
{
	if (s->name[0])
		return PQsendQueryPrepared(db, s->name, s->n_params, s->params, NULL, NULL, 0);
	return PQsendQueryParams(db, (const char *)s->sql.data, s->n_params, NULL, s->params, NULL,
	                         NULL, 0);
}

/* The row itself refused (a data exception, SQLSTATE class 22, or an
 * integrity constraint violation, class 23) is CPS_ERR_INVALID, and the
 * runner dead-letters it after its retries; anything else (an undefined
 * column, a permission, a deadlock, a server shutting down) is trouble with
 * the target, retried without end. */
int pg_sink_upsert_error(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED || !state)
		return CPS_ERR_RETRIABLE;
	return !strncmp(state, "22", 2) || !strncmp(state, "23", 2) ? CPS_ERR_INVALID
	                                                            : CPS_ERR_RETRIABLE;
}

int pg_sink_shapes_forget(struct pg_sink_shapes *c, PGconn *db)
{
	bool had_any = c->n > 0;
	int rc = 0;

	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].key);
	c->n = 0;
	/* with none cached, none is prepared: a failed prepare leaves nothing */
	if (had_any && db && PQstatus(db) == CONNECTION_OK) {
		PGresult *res = PQexec(db, "DEALLOCATE ALL");

		rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
		PQclear(res);
	}
	return rc;
}

void pg_sink_shapes_release(struct pg_sink_shapes *c)
{
	pg_sink_shapes_forget(c, NULL);
	free(c->v);
	memset(c, 0, sizeof(*c));
}
