/*
 * A swappable, reference-counted pointer to a read-only object shared by
 * threads (the rules, the policy): readers take the current object for a
 * piece of work (a reconcile batch, a request) and give it back; a swap
 * publishes a new one at once and frees the old one when its last reader
 * gives it back (the RCU idea, with a mutex and counts instead of grace
 * periods). Any thread.
 */
#ifndef CPS_LIVE_H
#define CPS_LIVE_H

#include <stdint.h>

struct cps_live;

/* `obj` (may be NULL) becomes the current object; the live takes ownership
 * and frees objects with `free_fn`. NULL when out of memory (obj is then
 * the caller's still). */
struct cps_live *cps_live_new(void *obj, void (*free_fn)(void *));
/* Frees the current object; every taken object must have been given back. */
void cps_live_free(struct cps_live *l);

/* The current object, held until cps_live_give (never freed meanwhile). */
void *cps_live_take(struct cps_live *l);
void cps_live_give(struct cps_live *l, void *obj);
/* Publishes `obj` (owned from now on); the previous one is freed once no
 * reader holds it. CPS_OK, or CPS_ERR_FATAL when out of memory (obj is
 * then freed and nothing changes). Returns the swap count so far in *gen
 * when gen is not NULL. */
int cps_live_swap(struct cps_live *l, void *obj, uint64_t *gen);
/* How many objects the swaps retired that readers still hold (for tests). */
int cps_live_retired(struct cps_live *l);

#endif
