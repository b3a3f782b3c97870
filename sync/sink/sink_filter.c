/*
 * What a sink never receives (sink_runner.h): echoes of changes that came
 * from its own platform (the no-echo rule, cps_sink_is_echo) and fields
 * outside its allow-list (cps_sink_allow_avro; a SQL target's plain text
 * leaves them out, sink_plain_text.c). Pure functions.
 */
#include "sink/sink_runner.h"
#include "base/comma_list.h"
#include "base/common.h"

#include <string.h>
#include <strings.h>

/* ---- the no-echo rule ---------------------------------------------------- */

/* The platform of the provenance entry of `field` (NULL: a steward's
 * value); false when the field has no entry. The search starts at *from,
 * past the entry found last: changed fields mostly come in the entries'
 * order (the schema's), so a whole event costs a pass, not a square. */
static bool entry_of(const struct cps_sink_event *ev, const struct cps_tval *field,
                     const char **platform, size_t *from)
{
	size_t n = ev->provenance->u.list.n;
	struct cps_sink_entry e;

	for (size_t j = 0; j < n; j++) {
		size_t i = (*from + j) % n;

		if (cps_sink_event_entry(ev, i, &e) && e.field_len == field->u.b.len &&
		    !memcmp(e.field, field->u.b.ptr, e.field_len)) {
			*platform = e.platform;
			*from = i + 1;
			return true;
		}
	}
	return false;
}

/* Whether the event's prior_platforms (cpsync.Platform symbols) name P. */
static bool prior_names(const struct cps_sink_event *ev, const char *platform)
{
	const struct cps_rtype *t = ev->platform_type;

	for (size_t i = 0; i < ev->prior_platforms->u.list.n; i++) {
		const struct cps_tval *p = &ev->prior_platforms->u.list.v[i];

		if (p->u.i >= 0 && (size_t)p->u.i < t->n &&
		    !strcasecmp(t->symbols[p->u.i], platform))
			return true;
	}
	return false;
}

bool cps_sink_is_echo(const struct cps_sink_event *ev, const char *platform)
{
	size_t attributed = 0, from = 0;
	struct cps_sink_entry e;
	const char *p;

	if (ev->is_delete)
		return prior_names(ev, platform);
	for (size_t i = 0; i < ev->changed_fields->u.list.n; i++) {
		if (!entry_of(ev, &ev->changed_fields->u.list.v[i], &p, &from))
			continue; /* changed to null: decides nothing */
		if (!p || strcasecmp(p, platform) != 0)
			return false;
		attributed++;
	}
	if (attributed)
		return true;
	/* unknown: an echo only when P already holds every value */
	for (size_t i = 0; i < ev->provenance->u.list.n; i++) {
		if (!cps_sink_event_entry(ev, i, &e) || !e.platform ||
		    strcasecmp(e.platform, platform) != 0)
			return false;
		attributed++;
	}
	return attributed > 0;
}

/* ---- the allow-list ------------------------------------------------------ */

bool cps_sink_allowed(const char *list, const char *name)
{
	size_t n = strlen(name), len;
	const char *elem;

	while (cps_comma_list_next(&list, &elem, &len))
		if (len == n && !strncmp(elem, name, n))
			return true;
	return false;
}

int cps_sink_allow_avro(const struct cps_rtype *type, struct cps_tval *record, const char *fields,
                        char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < type->n && i < record->u.list.n; i++) {
		const struct cps_rfield *f = &type->fields[i];

		if (cps_sink_allowed(fields, f->name))
			continue;
		if (!f->nullable)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s' is outside the allow-list and not nullable",
			                  f->name);
		record->u.list.v[f->index] =
		    (struct cps_tval){.kind = CPS_RK_NULL, .branch = f->type->null_branch};
	}
	return CPS_OK;
}
