/*
 * The version guard of the Kafka and files sinks: a sink never writes a
 * version of a key older than, or equal to, one it already wrote. "Last
 * written" lives in the store (cpsync.sink_versions, per link, entity and
 * key): read once per poll for the poll's keys, written once per flush for
 * what the flush delivered, never a query per event. The postgres sink
 * guards in its own table (its version column).
 */
#include "sink/sink_runner_int.h"
#include "base/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The guard's map while it filters one poll: for each (entity, key) of the
 * poll, the newest version put since the last flush or kept earlier in the
 * poll. Open addressing over at least twice as many slots as keys, so
 * filtering is linear in the poll and the versions put (a poll of 1,000
 * records had taken ~500,000 key comparisons). */
static struct sink_guard_slot *slot_of(struct cps_sink_runner *r, int ei, const char *key)
{
	uint64_t h = cps_fnv1a_with(CPS_FNV1A_SEED ^ (uint64_t)ei, key);
	size_t mask = r->n_guard_slots - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct sink_guard_slot *s = &r->guard_slots[i];

		if (!s->key) {
			*s = (struct sink_guard_slot){key, h, ei, 0};
			return s;
		}
		if (s->hash == h && s->ei == ei && !strcmp(s->key, key))
			return s;
	}
}

/* An empty map with room for `keys` keys, then the versions put since the
 * last flush. -1 when out of memory. */
static int map_start(struct cps_sink_runner *r, size_t keys)
{
	size_t want = 16;

	while (want < 2 * keys)
		want *= 2;
	if (want > r->n_guard_slots) {
		struct sink_guard_slot *slots = malloc(want * sizeof(*slots));

		if (!slots)
			return -1;
		free(r->guard_slots);
		r->guard_slots = slots;
		r->n_guard_slots = want;
	}
	memset(r->guard_slots, 0, r->n_guard_slots * sizeof(*r->guard_slots));
	for (size_t i = 0; i < r->n_written; i++) {
		struct sink_guard_slot *s = slot_of(r, r->written[i].ei, r->written[i].key);

		if (r->written[i].version > s->version)
			s->version = r->written[i].version;
	}
	return 0;
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
	if (map_start(r, *n + r->n_written) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t k = 0; k < *n; k++) {
		size_t j = r->out_of[k];
		const struct out_rec *o = &r->out[j];
		struct sink_guard_slot *s = slot_of(r, o->ei, o->key);

		/* written before (the store), put since the last flush, or an
		 * earlier record of this poll that is sent */
		if (o->v <= r->last_written[k] || o->v <= s->version) {
			drop_add(r, &r->stats.superseded, CPS_DROP_SUPERSEDED);
			continue;
		}
		s->version = o->v;
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
