/*
 * A FIFO of acknowledged source batches waiting for the store (see
 * ingest_ack.h). Each release asks the store once for the partitions that
 * the leading batches touch.
 */
#include "ingest/ingest_ack.h"

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

struct pending {
	struct cps_position *pos;
	size_t n_pos;
	struct cps_ingest_produced *produced;
	size_t n_produced;
	size_t n_events;
};

struct cps_ingest_acks {
	const char *topic; /* borrowed from the runner */
	struct pending *q; /* ring of `cap` */
	size_t head, n, cap;
	size_t n_events;             /* of the queued batches */
	struct cps_position *merged; /* the last release's positions */
	size_t cap_merged;
	int32_t *parts; /* scratch for the store query */
	int64_t *next;
	size_t cap_parts;
};

int cps_ingest_produced_note(struct cps_ingest_produced *list, size_t *n, size_t cap,
                             int32_t partition, int64_t offset)
{
	for (size_t i = 0; i < *n; i++)
		if (list[i].partition == partition) {
			if (offset > list[i].last_offset)
				list[i].last_offset = offset;
			return 0;
		}
	if (*n == cap)
		return -1;
	list[*n].partition = partition;
	list[*n].last_offset = offset;
	(*n)++;
	return 0;
}

int cps_positions_raise(struct cps_position *list, size_t *n, size_t cap,
                        const struct cps_position *pos)
{
	for (size_t j = 0; j < *n; j++)
		if (list[j].partition == pos->partition && !strcmp(list[j].stream, pos->stream)) {
			if (pos->offset > list[j].offset)
				list[j].offset = pos->offset;
			return 0;
		}
	if (*n == cap)
		return -1;
	list[(*n)++] = *pos;
	return 0;
}

struct cps_ingest_acks *cps_ingest_acks_new(const char *ingest_topic)
{
	struct cps_ingest_acks *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->topic = ingest_topic;
	return a;
}

static void pending_release(struct cps_ingest_acks *a, struct pending *p)
{
	a->n_events -= p->n_events;
	free(p->pos);
	free(p->produced);
	memset(p, 0, sizeof(*p));
}

void cps_ingest_acks_clear(struct cps_ingest_acks *a)
{
	while (a && a->n) {
		pending_release(a, &a->q[a->head]);
		a->head = (a->head + 1) % a->cap;
		a->n--;
	}
}

void cps_ingest_acks_free(struct cps_ingest_acks *a)
{
	if (!a)
		return;
	cps_ingest_acks_clear(a);
	free(a->q);
	free(a->merged);
	free(a->parts);
	free(a->next);
	free(a);
}

size_t cps_ingest_acks_pending(const struct cps_ingest_acks *a)
{
	return a ? a->n : 0;
}

size_t cps_ingest_acks_pending_events(const struct cps_ingest_acks *a)
{
	return a ? a->n_events : 0;
}

static void *dup_array(const void *src, size_t n, size_t size)
{
	void *p = malloc(n ? n * size : 1);

	if (p && n)
		memcpy(p, src, n * size);
	return p;
}

static int grow_ring(struct cps_ingest_acks *a)
{
	size_t cap = a->cap ? a->cap * 2 : 16;
	struct pending *q = calloc(cap, sizeof(*q));

	if (!q)
		return -1;
	for (size_t i = 0; i < a->n; i++)
		q[i] = a->q[(a->head + i) % a->cap];
	free(a->q);
	a->q = q;
	a->head = 0;
	a->cap = cap;
	return 0;
}

int cps_ingest_acks_push(struct cps_ingest_acks *a, const struct cps_position *pos, size_t n_pos,
                         const struct cps_ingest_produced *produced, size_t n_produced,
                         size_t n_events)
{
	struct pending p = {0};

	if (a->n == a->cap && grow_ring(a) < 0)
		return -1;
	p.pos = dup_array(pos, n_pos, sizeof(*pos));
	p.produced = dup_array(produced, n_produced, sizeof(*produced));
	if (!p.pos || !p.produced) {
		free(p.pos);
		free(p.produced);
		return -1;
	}
	p.n_pos = n_pos;
	p.n_produced = n_produced;
	p.n_events = n_events;
	a->n_events += n_events;
	a->q[(a->head + a->n) % a->cap] = p;
	a->n++;
	return 0;
}

/* The distinct partitions of the queued batches, into a->parts. */
/* parts and next grow together, under one capacity (next first: a failure
 * leaves it merely larger). */
static int grow_parts(struct cps_ingest_acks *a, size_t need)
{
	size_t cap_next = a->cap_parts;

	if (cps_grow(&a->next, &cap_next, need, sizeof(*a->next)) != 0)
		return -1;
	return cps_grow(&a->parts, &a->cap_parts, need, sizeof(*a->parts));
}

static int collect_partitions(struct cps_ingest_acks *a, size_t *n_parts)
{
	*n_parts = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct pending *p = &a->q[(a->head + i) % a->cap];

		for (size_t j = 0; j < p->n_produced; j++) {
			size_t k;

			for (k = 0; k < *n_parts; k++)
				if (a->parts[k] == p->produced[j].partition)
					break;
			if (k < *n_parts)
				continue;
			if (grow_parts(a, *n_parts + 1) != 0)
				return -1;
			a->parts[(*n_parts)++] = p->produced[j].partition;
		}
	}
	return 0;
}

static bool applied(const struct cps_ingest_acks *a, size_t n_parts, const struct pending *p)
{
	for (size_t j = 0; j < p->n_produced; j++) {
		size_t k;

		for (k = 0; k < n_parts; k++)
			if (a->parts[k] == p->produced[j].partition)
				break;
		if (k == n_parts || a->next[k] <= p->produced[j].last_offset)
			return false;
	}
	return true;
}

static int merge_positions(struct cps_ingest_acks *a, size_t *n_out, const struct pending *p)
{
	for (size_t i = 0; i < p->n_pos; i++)
		while (cps_positions_raise(a->merged, n_out, a->cap_merged, &p->pos[i]) < 0)
			if (cps_grow(&a->merged, &a->cap_merged, a->cap_merged + 1,
			             sizeof(*a->merged)) != 0)
				return -1;
	return 0;
}

int cps_ingest_acks_release(struct cps_ingest_acks *a, struct cps_store *store,
                            const struct cps_position **out, size_t *n_out, size_t *n_batches,
                            char *errstr, size_t errstr_size)
{
	size_t n_parts;
	int rc;

	*out = a->merged;
	*n_out = 0;
	*n_batches = 0;
	if (!a->n)
		return CPS_OK;
	if (collect_partitions(a, &n_parts) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (n_parts) {
		rc = cps_store_load_offsets(store, a->topic, a->parts, a->next, n_parts, errstr,
		                            errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	while (a->n && applied(a, n_parts, &a->q[a->head])) {
		if (merge_positions(a, n_out, &a->q[a->head]) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		pending_release(a, &a->q[a->head]);
		a->head = (a->head + 1) % a->cap;
		a->n--;
		(*n_batches)++;
	}
	*out = a->merged;
	return CPS_OK;
}
