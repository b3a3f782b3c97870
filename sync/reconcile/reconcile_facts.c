/*
 * Step 1 of reconciliation (ENGINE.md "Reconciliation"): an event updates
 * its platform's last-seen facts in the key state, field by field, newest
 * stamp wins. Existing fact objects are updated, their members replaced
 * (never changed in place), so an event allocates only for the values it
 * changes.
 */
#include "reconcile/reconcile_int.h"

#include <stdlib.h>
#include <string.h>

/* Sets obj[key] = v, stealing v; notes an allocation failure in *oom. */
static void put(int *oom, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		*oom = 1;
}

int cps_pos_cmp(const char *a, const char *b)
{
	const char *sa, *sb;
	char *end;
	long long na, nb;

	if (!a || !b)
		return 0;
	sa = strrchr(a, '#') ? strrchr(a, '#') : strrchr(a, '@');
	sb = strrchr(b, '#') ? strrchr(b, '#') : strrchr(b, '@');
	if (!sa || !sb || sa - a != sb - b || memcmp(a, b, (size_t)(sa - a) + 1) != 0)
		return 0;
	na = strtoll(sa + 1, &end, 10);
	if (*end || end == sa + 1)
		return 0;
	nb = strtoll(sb + 1, &end, 10);
	if (*end || end == sb + 1)
		return 0;
	return na < nb ? -1 : na > nb;
}

/* An event's stamp as JSON values, made once per event and shared by every
 * fact it updates (a fact's members are replaced, never changed in place:
 * conflicts and provenance entries hold the same values). */
struct event_stamp {
	json_t *eff, *src, *pos;
};

static int event_stamp_init(struct event_stamp *es, const struct cps_ingest_event *ev)
{
	es->eff = json_integer(ev->effective_ms);
	es->src = json_integer(ev->source_ms);
	es->pos = ev->source_position ? json_string(ev->source_position) : json_null();
	return es->eff && es->src && es->pos ? 0 : -1;
}

static void event_stamp_release(struct event_stamp *es)
{
	json_decref(es->eff);
	json_decref(es->src);
	json_decref(es->pos);
}

/* Stamps object o (a platform or one of its facts) with the event's stamp. */
static void stamp_set(int *oom, json_t *o, const struct event_stamp *es)
{
	if (json_object_set(o, "eff", es->eff) || json_object_set(o, "src", es->src) ||
	    json_object_set(o, "pos", es->pos))
		*oom = 1;
}

/* Where the event stands against a platform's or fact's stamp `o`: > 0 newer. */
static int event_cmp(const struct cps_ingest_event *ev, const json_t *o)
{
	int cmp = stamp_cmp(ev->effective_ms, ev->source_ms, jint(o, "eff"), jint(o, "src"));

	return cmp ? cmp
	           : cps_pos_cmp(ev->source_position, json_string_value(json_object_get(o, "pos")));
}

/* The event's value of one field becomes the platform's fact, unless the
 * platform holds a newer fact or this same one. An existing fact object is
 * updated (no new object per field per event). */
static void update_fact(int *oom, json_t *fields, const char *k, json_t *v,
                        const struct cps_ingest_event *ev, const struct event_stamp *es)
{
	json_t *f = json_object_get(fields, k), *old_v;
	int cmp = f ? event_cmp(ev, f) : 1;

	if (cmp < 0)
		return; /* an older fact than the one we hold, or one delivered again */
	if (!f) {
		f = json_pack("{s:o}", "v", json_deep_copy(v));
		put(oom, fields, k, f);
		if (f)
			stamp_set(oom, f, es);
		return;
	}
	old_v = json_object_get(f, "v");
	if (cmp == 0 && json_equal(old_v, v))
		return; /* the same fact again */
	if (!json_equal(old_v, v))
		put(oom, f, "v", json_deep_copy(v));
	stamp_set(oom, f, es);
}

int cps_reconcile_update_facts(json_t *platforms, const struct cps_ingest_event *ev)
{
	json_t *p = json_object_get(platforms, ev->platform);
	struct event_stamp es;
	const char *k;
	json_t *v;
	int cmp, oom = 0;

	if (event_stamp_init(&es, ev)) {
		event_stamp_release(&es);
		return -1;
	}
	if (!p) {
		p = json_pack("{s:b, s:{}}", "withdrawn", ev->op == CPS_OP_DELETE, "fields");
		put(&oom, platforms, ev->platform, p);
		if (p)
			stamp_set(&oom, p, &es);
	} else {
		cmp = event_cmp(ev, p);
		/* at equal stamps a delete wins, whatever the arrival order */
		if (cmp > 0 || (cmp == 0 && (ev->op == CPS_OP_DELETE ||
		                             !json_is_true(json_object_get(p, "withdrawn"))))) {
			put(&oom, p, "withdrawn", json_boolean(ev->op == CPS_OP_DELETE));
			stamp_set(&oom, p, &es);
		}
	}
	if (p && ev->op != CPS_OP_DELETE) {
		json_t *fields = json_object_get(p, "fields");

		json_object_foreach (ev->record, k, v)
			update_fact(&oom, fields, k, v, ev, &es);
	}
	event_stamp_release(&es);
	return oom ? -1 : 0;
}
