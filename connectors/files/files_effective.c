/*
 * The files source's effective-time field (issue 11): a record field, named
 * by `file.<prefix>.effective_field` (longest prefix of the file name wins)
 * or `effective_field`, whose value becomes the fact's effective time instead
 * of the file's mtime, as the city source's effective_column does for a row.
 * The field is a long (timestamp-millis or plain epoch milliseconds) or an
 * int date, nullable or not; a null leaves the record to ingest's fallbacks.
 */
#include "connectors/files/files_int.h"

#include "base/arena.h"
#include "codec/record.h"
#include "codec/schema.h"

#include <stdlib.h>
#include <string.h>

#define DAY_MS INT64_C(86400000)
#define SUFFIX ".effective_field"

struct files_effective {
	char *field;                    /* effective_field; NULL when not set */
	struct files_prefixes prefixes; /* file.<prefix>.effective_field */
	/* the file in flight */
	struct cps_record_schema *rs; /* NULL: no field mapped for it */
	const struct cps_rfield *f;
	struct cps_arena arena;
};

void files_effective_free(struct files_effective *e)
{
	if (!e)
		return;
	files_prefixes_release(&e->prefixes);
	free(e->field);
	cps_record_schema_free(e->rs);
	cps_arena_release(&e->arena);
	free(e);
}

int files_effective_new(const struct cps_settings *settings, struct files_effective **out,
                        char *errstr, size_t errstr_size)
{
	struct files_effective *e = calloc(1, sizeof(*e));
	const char *dflt = cps_settings_get(settings, "effective_field");

	*out = NULL;
	if (!e)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_arena_init(&e->arena, 0);
	if ((dflt && *dflt && !(e->field = strdup(dflt))) ||
	    files_prefixes_load(&e->prefixes, settings, SUFFIX) < 0)
		goto out_oom;
	for (size_t i = 0; i < e->prefixes.n; i++)
		if (!*e->prefixes.v[i].value) {
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			           "setting 'file.%s" SUFFIX "' must name a record field",
			           e->prefixes.v[i].prefix);
			files_effective_free(e);
			return CPS_ERR_INVALID;
		}
	*out = e;
	return CPS_OK;
out_oom:
	files_effective_free(e);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* The field mapped for file `name`: the longest matching prefix, else the
 * default; NULL for none. */
static const char *field_for(const struct files_effective *e, const char *name)
{
	const char *field = files_prefixes_find(&e->prefixes, name);

	return field ? field : e->field;
}

/* The type a time is read from: the non-null branch of a nullable field. */
static const struct cps_rtype *time_type(const struct cps_rfield *f)
{
	const struct cps_rtype *t = f->type;

	if (t->kind == CPS_RK_UNION && t->n == 2 && t->null_branch >= 0)
		t = t->branches[1 - t->null_branch];
	if (t->kind == CPS_RK_LONG &&
	    (t->logical == CPS_LOGICAL_NONE || t->logical == CPS_LOGICAL_TIMESTAMP_MILLIS))
		return t;
	if (t->kind == CPS_RK_INT && t->logical == CPS_LOGICAL_DATE)
		return t;
	return NULL;
}

int files_effective_start(struct files_effective *e, const char *name,
                          const struct cps_schema *writer, char *why, size_t why_size)
{
	const char *field = field_for(e, name);
	char err[CPS_ERRSTR_SIZE];
	int rc;

	cps_record_schema_free(e->rs);
	e->rs = NULL;
	e->f = NULL;
	if (!field)
		return CPS_OK;
	rc = cps_record_schema_new(writer, &e->rs, err, sizeof(err));
	if (rc != CPS_OK)
		return cps_seterr(rc, why, why_size, "effective_field '%s': %s", field, err);
	e->f = e->rs->root->kind == CPS_RK_RECORD ? cps_rtype_field(e->rs->root, field) : NULL;
	if (!e->f || !time_type(e->f)) {
		rc = cps_seterr(CPS_ERR_INVALID, why, why_size,
		                "effective_field '%s' is not a field of its writer schema '%.100s' "
		                "holding a long (timestamp-millis or epoch milliseconds) or a date",
		                field, writer->name ? writer->name : "?");
		cps_record_schema_free(e->rs);
		e->rs = NULL;
		e->f = NULL;
	}
	return rc;
}

bool files_effective_of(struct files_effective *e, const void *rec, size_t len, int64_t *ms)
{
	struct cps_tval v;
	const struct cps_tval *t;
	char why[CPS_ERRSTR_SIZE];

	if (!e->rs)
		return false;
	cps_arena_reset(&e->arena);
	/* a record that does not decode is ingest's to dead-letter */
	if (cps_record_decode(e->rs, rec, len, NULL, 0, &e->arena, &v, why, sizeof(why)) !=
	        CPS_OK ||
	    e->f->index >= v.u.list.n)
		return false;
	t = &v.u.list.v[e->f->index];
	if (t->kind == CPS_RK_LONG)
		*ms = t->u.i;
	else if (t->kind == CPS_RK_INT)
		*ms = t->u.i * DAY_MS;
	else
		return false; /* null */
	return true;
}
