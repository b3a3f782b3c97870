/*
 * The swappable reference-counted pointer of live.h: the current object and
 * the retired ones readers still hold, each with its count, under one mutex
 * (taken twice per batch or request: never contended enough to matter).
 */
#include "base/live.h"

#include "base/common.h"

#include <pthread.h>
#include <stdlib.h>

struct held {
	void *obj;
	int refs;
	struct held *next;
};

struct cps_live {
	pthread_mutex_t mu;
	void (*free_fn)(void *);
	struct held *cur;     /* never NULL */
	struct held *retired; /* swapped out, still held by readers */
	uint64_t gen;
};

struct cps_live *cps_live_new(void *obj, void (*free_fn)(void *))
{
	struct cps_live *l = calloc(1, sizeof(*l));

	if (!l || !(l->cur = calloc(1, sizeof(*l->cur)))) {
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	l->free_fn = free_fn;
	l->cur->obj = obj;
	return l;
}

static void held_free(struct cps_live *l, struct held *h)
{
	if (h->obj && l->free_fn)
		l->free_fn(h->obj);
	free(h);
}

void cps_live_free(struct cps_live *l)
{
	if (!l)
		return;
	while (l->retired) {
		struct held *h = l->retired;

		l->retired = h->next;
		held_free(l, h);
	}
	held_free(l, l->cur);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void *cps_live_take(struct cps_live *l)
{
	void *obj;

	pthread_mutex_lock(&l->mu);
	l->cur->refs++;
	obj = l->cur->obj;
	pthread_mutex_unlock(&l->mu);
	return obj;
}

void cps_live_give(struct cps_live *l, void *obj)
{
	struct held **pp, *gone = NULL;

	pthread_mutex_lock(&l->mu);
	if (l->cur->obj == obj && l->cur->refs > 0) {
		l->cur->refs--;
	} else {
		for (pp = &l->retired; *pp; pp = &(*pp)->next) {
			if ((*pp)->obj != obj)
				continue;
			if (--(*pp)->refs == 0) {
				gone = *pp;
				*pp = gone->next;
			}
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (gone)
		held_free(l, gone);
}

int cps_live_swap(struct cps_live *l, void *obj, uint64_t *gen)
{
	struct held *h = calloc(1, sizeof(*h)), *old;

	if (!h) {
		if (obj && l->free_fn)
			l->free_fn(obj);
		return CPS_ERR_FATAL;
	}
	h->obj = obj;
	pthread_mutex_lock(&l->mu);
	old = l->cur;
	l->cur = h;
	if (old->refs > 0) {
		old->next = l->retired;
		l->retired = old;
		old = NULL;
	}
	if (gen)
		*gen = ++l->gen;
	else
		++l->gen;
	pthread_mutex_unlock(&l->mu);
	if (old)
		held_free(l, old);
	return CPS_OK;
}

int cps_live_retired(struct cps_live *l)
{
	int n = 0;

	pthread_mutex_lock(&l->mu);
	for (struct held *h = l->retired; h; h = h->next)
		n++;
	pthread_mutex_unlock(&l->mu);
	return n;
}
