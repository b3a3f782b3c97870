/*
 * The per-second ring of throughput.h. Slot now_s % 60 holds second now_s;
 * an adder finding an older second there starts the slot afresh with a
 * compare-and-swap, so a slot never mixes two seconds. Readers ignore
 * slots whose second is outside the window.
 */
#include "observe/throughput.h"

#include <time.h>

#define SEC_OF(v)   ((uint32_t)((v) >> 32))
#define COUNT_OF(v) ((uint32_t)((v)&0xffffffffu))

int64_t cps_throughput_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

void cps_throughput_init(struct cps_throughput *t)
{
	for (int i = 0; i < CPS_THROUGHPUT_SECONDS; i++)
		atomic_init(&t->slot[i], 0);
}

void cps_throughput_add(struct cps_throughput *t, int64_t now_s, int64_t n)
{
	_Atomic uint64_t *slot = &t->slot[now_s % CPS_THROUGHPUT_SECONDS];
	uint32_t sec = (uint32_t)now_s;
	uint64_t old = atomic_load(slot), next;

	if (n <= 0 || now_s < 0)
		return;
	do {
		uint64_t count = SEC_OF(old) == sec ? COUNT_OF(old) : 0;

		count += (uint64_t)n;
		if (count > UINT32_MAX)
			count = UINT32_MAX;
		next = ((uint64_t)sec << 32) | count;
	} while (!atomic_compare_exchange_weak(slot, &old, next));
}

/* The count of second s, 0 when its slot holds another second. */
static int64_t count_at(struct cps_throughput *t, int64_t s)
{
	uint64_t v;

	if (s < 0)
		return 0;
	v = atomic_load(&t->slot[s % CPS_THROUGHPUT_SECONDS]);
	return SEC_OF(v) == (uint32_t)s ? (int64_t)COUNT_OF(v) : 0;
}

int64_t cps_throughput_sum(struct cps_throughput *t, int64_t now_s)
{
	int64_t sum = 0;

	for (int64_t s = now_s - CPS_THROUGHPUT_SECONDS + 1; s <= now_s; s++)
		sum += count_at(t, s);
	return sum;
}

void cps_throughput_series(struct cps_throughput *t, int64_t now_s,
                           int64_t out[CPS_THROUGHPUT_SECONDS])
{
	for (int i = 0; i < CPS_THROUGHPUT_SECONDS; i++)
		out[i] = count_at(t, now_s - CPS_THROUGHPUT_SECONDS + 1 + i);
}
