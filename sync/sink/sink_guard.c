/*
 * The version guard of the Kafka and files sinks: a sink never writes a
 * version of a key older than, or equal to, one it already wrote. "Last
 * written" lives in the store (cpsync.sink_versions, per link, entity and
 * key): read once per poll for the poll's keys, written once per flush for
 * what the flush delivered, never a query per event. The postgres sink
 * guards in its own table (its version column).
 */
#include "sink/sink_runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The newest version put since the last flush for o's key, 0 when none. */
static int64_t noted_version(const struct cps_sink_runner *r, const struct out_rec *o)
{
	int64_t v = 0;

	for (size_t i = 0; i < r->n_written; i++)
		if (r->written[i].ei == o->ei && r->written[i].version > v &&
		    !strcmp(r->written[i].key, o->key))
			v = r->written[i].version;
	return v;
}

int cps_sink_guard_filter(struct cps_sink_runner *r, size_t *n, char *errstr, size_t errstr_size)
{
	size_t kept = 0;
	int rc;

	if (r->format == CPS_SINK_FORMAT_JSON || *n == 0)
		return CPS_OK;
	for (size_t k = 0; k < *n; k++) {
		const struct out_rec *o = &r->out[r->out_of[k]];

		r->refs[k] = (struct cps_change_ref){cps_entities[o->ei], o->key, 0};
		r->last_written[k] = 0;
	}
	if (r->store_conninfo) {
		rc = cps_sink_store(r, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = cps_store_sink_versions_get(r->store, r->link_name, r->refs, *n,
			                                 r->last_written, errstr, errstr_size);
		if (rc != CPS_OK) {
			cps_sink_store_failed(r);
			return rc;
		}
	}
	for (size_t k = 0; k < *n; k++) {
		size_t j = r->out_of[k];
		const struct out_rec *o = &r->out[j];
		int64_t last = r->last_written[k], noted = noted_version(r, o);

		if (noted > last)
			last = noted;
		/* an earlier record of this poll that is sent */
		for (size_t e = 0; e < kept; e++) {
			const struct out_rec *p = &r->out[r->out_of[e]];

			if (p->ei == o->ei && p->v > last && !strcmp(p->key, o->key))
				last = p->v;
		}
		if (o->v <= last) {
			drop_add(r, &r->stats.superseded, CPS_DROP_SUPERSEDED);
			continue;
		}
		r->recs[kept] = r->recs[k];
		r->out_of[kept] = j;
		kept++;
	}
	*n = kept;
	return CPS_OK;
}

int cps_sink_guard_note(struct cps_sink_runner *r, size_t k)
{
	const struct out_rec *o = &r->out[r->out_of[k]];
	struct sink_written *w;

	if (r->format == CPS_SINK_FORMAT_JSON)
		return 0;
	if (cps_grow(&r->written, &r->cap_written, r->n_written + 1, sizeof(*r->written)) != 0)
		return -1;
	w = &r->written[r->n_written];
	w->key = cps_arena_strdup(&r->written_keys, o->key);
	if (!w->key)
		return -1;
	w->ei = o->ei;
	w->version = o->v;
	r->n_written++;
	return 0;
}

int cps_sink_guard_save(struct cps_sink_runner *r, char *errstr, size_t errstr_size)
{
	struct cps_change_ref *refs;
	int rc;

	if (!r->n_written || !r->store_conninfo) {
		cps_sink_guard_forget(r);
		return CPS_OK;
	}
	refs = calloc(r->n_written, sizeof(*refs));
	if (!refs)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < r->n_written; i++)
		refs[i] = (struct cps_change_ref){cps_entities[r->written[i].ei], r->written[i].key,
		                                  r->written[i].version};
	rc = cps_sink_store(r, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_store_sink_versions_put(r->store, r->link_name, refs, r->n_written, errstr,
		                                 errstr_size);
	if (rc != CPS_OK)
		cps_sink_store_failed(r);
	else
		cps_sink_guard_forget(r);
	free(refs);
	return rc;
}

void cps_sink_guard_forget(struct cps_sink_runner *r)
{
	r->n_written = 0;
	cps_arena_reset(&r->written_keys);
}
