/*
 * The running demo (see demo.h): the thread that takes the generator's
 * messages (demo_population.c builds the people, demo_records.c the initial
 * load, demo_changes.c the trickle) and hands each to its platform's
 * transport: Kafka (demo_kafka.c), or the city's database (demo_city.c) and
 * the Shenshan inbox (demo_shenshan.c) when those are given; and its stats.
 */
#include "demo/demo.h"

#include "base/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cps_demo {
	unsigned trickle_per_s;
	bool no_trickle;
	unsigned settle_ms;
	struct cps_demo_gen *gen;
	struct cps_demo_kafka *kafka; /* the province's transport, and the others' by default */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                   /* under lock */
	bool failed;                 /* under lock */
	struct cps_demo_stats stats; /* under lock */
	/* trickle byte budget (demo thread only) */
	int64_t minute_start_ms;
	size_t minute_bytes;
	/* the city's and the zone's own transports; NULL = Kafka */
	struct cps_demo_city *city;
	struct cps_demo_shenshan *shenshan;
	uint64_t city_uncommitted; /* demo thread only */
	int shenshan_flush_ms;
	int64_t shenshan_flushed_ms; /* demo thread only */
};

#define CITY_COMMIT_ROWS 500 /* rows of one city transaction in the initial load */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool demo_stopping(struct cps_demo *d)
{
	bool stop;

	pthread_mutex_lock(&d->lock);
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

static void demo_fail(struct cps_demo *d, const char *why)
{
	pthread_mutex_lock(&d->lock);
	d->failed = true;
	snprintf(d->stats.last_error, sizeof(d->stats.last_error), "%s", why);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	fprintf(stderr, "demo: %s\n", why);
}

/* demo_stopping for the transports, which know no struct cps_demo. */
static bool demo_stopping_cb(void *arg)
{
	return demo_stopping(arg);
}

/* @locality a librdkafka thread (inside cps_demo_kafka_poll/flush of the demo thread) */
static void kafka_delivered(void *arg, enum cps_demo_platform platform, const char *error)
{
	struct cps_demo *d = arg;

	pthread_mutex_lock(&d->lock);
	if (error) {
		d->stats.failed[platform]++;
		snprintf(d->stats.last_error, sizeof(d->stats.last_error), "%s", error);
	} else {
		d->stats.delivered[platform]++;
	}
	pthread_mutex_unlock(&d->lock);
}

/* Commits the city's transaction. @locality the demo thread */
static int city_commit(struct cps_demo *d)
{
	char err[CPS_ERRSTR_SIZE];

	if (!d->city || !d->city_uncommitted)
		return 0;
	if (cps_demo_city_commit(d->city, err, sizeof(err)) != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.delivered[CPS_DEMO_CITY] += d->city_uncommitted;
	pthread_mutex_unlock(&d->lock);
	d->city_uncommitted = 0;
	return 0;
}

/* Publishes the zone's pending files. @locality the demo thread */
static int shenshan_flush(struct cps_demo *d)
{
	char err[CPS_ERRSTR_SIZE];

	if (!d->shenshan)
		return 0;
	d->shenshan_flushed_ms = wall_ms();
	if (cps_demo_shenshan_flush(d->shenshan, err, sizeof(err)) != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.delivered[CPS_DEMO_SHENSHAN] = d->stats.produced[CPS_DEMO_SHENSHAN];
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* One message of the city or the zone on its own transport. @locality the
 * demo thread */
static int emit_local(struct cps_demo *d, const struct cps_demo_msg *m)
{
	char err[CPS_ERRSTR_SIZE];
	int rc;

	if (m->platform == CPS_DEMO_CITY)
		rc = cps_demo_city_put(d->city, m, err, sizeof(err));
	else
		rc = cps_demo_shenshan_put(d->shenshan, m, err, sizeof(err));
	if (rc != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.produced[m->platform]++;
	if (m->platform == CPS_DEMO_SHENSHAN)
		d->stats.delivered[CPS_DEMO_SHENSHAN] =
		    d->stats.produced[CPS_DEMO_SHENSHAN] - cps_demo_shenshan_pending(d->shenshan);
	pthread_mutex_unlock(&d->lock);
	if (m->platform == CPS_DEMO_CITY && ++d->city_uncommitted >= CITY_COMMIT_ROWS &&
	    city_commit(d) != 0)
		return CPS_ERR_FATAL;
	return demo_stopping(d) ? 1 : 0;
}

/* One message on its platform's transport. @locality the demo thread */
static int demo_emit(void *arg, const struct cps_demo_msg *m)
{
	struct cps_demo *d = arg;
	char err[CPS_ERRSTR_SIZE + 64];
	size_t bytes = 0;
	int rc;

	if ((m->platform == CPS_DEMO_CITY && d->city) ||
	    (m->platform == CPS_DEMO_SHENSHAN && d->shenshan))
		return emit_local(d, m);
	rc = cps_demo_kafka_produce(d->kafka, m, demo_stopping_cb, d, &bytes, err, sizeof(err));
	if (rc == 1)
		return 1;
	if (rc != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.produced[m->platform]++;
	d->stats.bytes += bytes;
	pthread_mutex_unlock(&d->lock);
	d->minute_bytes += bytes;
	cps_demo_kafka_poll(d->kafka);
	return demo_stopping(d) ? 1 : 0;
}

/* Sleeps until `deadline_ms` (wall clock) or a stop; true when stopping. */
static bool demo_sleep_until(struct cps_demo *d, int64_t deadline_ms)
{
	struct timespec ts;
	bool stop;

	ts.tv_sec = (time_t)(deadline_ms / 1000);
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	pthread_mutex_lock(&d->lock);
	while (!d->stop && wall_ms() < deadline_ms)
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
			break;
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

static void *demo_thread(void *arg)
{
	struct cps_demo *d = arg;
	int64_t interval_us = 1000000 / (d->trickle_per_s ? d->trickle_per_s : 1);
	int64_t next_us;
	uint64_t failed = 0;
	bool broken;
	int rc;

	/* the registers delivered, and a pause, before what refers to them */
	rc = cps_demo_gen_initial_registers(d->gen, demo_emit, d);
	if (rc < 0 || city_commit(d) != 0 || shenshan_flush(d) != 0 ||
	    !cps_demo_kafka_flush_all(d->kafka, demo_stopping_cb, d) ||
	    (d->settle_ms && demo_sleep_until(d, wall_ms() + d->settle_ms)))
		goto out;
	rc = cps_demo_gen_initial_enrolments(d->gen, demo_emit, d);
	if (rc < 0 || city_commit(d) != 0 || shenshan_flush(d) != 0 ||
	    !cps_demo_kafka_flush_all(d->kafka, demo_stopping_cb, d))
		goto out;
	pthread_mutex_lock(&d->lock);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		failed += d->stats.failed[p];
	pthread_mutex_unlock(&d->lock);
	if (failed) {
		char why[128];

		snprintf(why, sizeof(why), "%llu messages of the initial load were not delivered",
		         (unsigned long long)failed);
		demo_fail(d, why);
		goto out;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.loaded = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	fprintf(stderr, "demo: initial load acknowledged\n");
	if (d->no_trickle)
		goto out;
	d->minute_start_ms = wall_ms();
	d->minute_bytes = 0;
	next_us = wall_ms() * 1000;
	while (!demo_stopping(d)) {
		int64_t now = wall_ms();

		if (now - d->minute_start_ms >= 60000) {
			d->minute_start_ms = now;
			d->minute_bytes = 0;
		}
		if (d->minute_bytes >= CPS_DEMO_TRICKLE_BYTES_PER_MIN) {
			/* the budget of this minute is spent: wait for the next */
			if (demo_sleep_until(d, d->minute_start_ms + 60000))
				break;
			next_us = wall_ms() * 1000;
			continue;
		}
		rc = cps_demo_gen_change(d->gen, now, demo_emit, d);
		if (rc < 0 || city_commit(d) != 0)
			break;
		if (d->shenshan && wall_ms() - d->shenshan_flushed_ms >= d->shenshan_flush_ms &&
		    shenshan_flush(d) != 0)
			break;
		pthread_mutex_lock(&d->lock);
		d->stats.changes++;
		pthread_mutex_unlock(&d->lock);
		cps_demo_kafka_poll(d->kafka);
		next_us += interval_us;
		if (next_us < (now - 1000) * 1000)
			next_us = now * 1000; /* fell behind by over a second: no burst */
		if (next_us > wall_ms() * 1000 && demo_sleep_until(d, next_us / 1000))
			break;
	}
out:
	/* what was generated before a stop still reaches the city and the zone */
	pthread_mutex_lock(&d->lock);
	broken = d->failed;
	pthread_mutex_unlock(&d->lock);
	if (!broken && city_commit(d) == 0)
		shenshan_flush(d);
	return NULL;
}

static void demo_free(struct cps_demo *d)
{
	if (!d)
		return;
	cps_demo_kafka_close(d->kafka);
	cps_demo_city_close(d->city);
	cps_demo_shenshan_close(d->shenshan);
	cps_demo_gen_free(d->gen);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int cps_demo_start(const struct cps_demo_conf *conf, struct cps_demo **out, char *errstr,
                   size_t errstr_size)
{
	struct cps_demo *d;
	int rc;

	*out = NULL;
	if (!conf->bootstrap || !*conf->bootstrap || !conf->catalog)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "demo: a bootstrap and a catalog are required");
	d = calloc(1, sizeof(*d));
	if (!d)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->trickle_per_s = conf->trickle_per_s ? conf->trickle_per_s : CPS_DEMO_DEFAULT_TRICKLE;
	d->no_trickle = conf->no_trickle;
	d->settle_ms = conf->settle_ms;
	rc = cps_demo_kafka_open(conf, kafka_delivered, d, &d->kafka, errstr, errstr_size);
	if (rc)
		goto out_free;
	rc = cps_demo_gen_new(conf, &d->gen, errstr, errstr_size);
	if (rc)
		goto out_free;
	if (conf->city_conninfo) {
		rc = cps_demo_city_open(conf->city_conninfo, conf->catalog, &d->city, errstr,
		                        errstr_size);
		if (rc)
			goto out_free;
	}
	if (conf->shenshan_inbox) {
		rc = cps_demo_shenshan_open(conf->shenshan_inbox, conf->catalog, &d->shenshan,
		                            errstr, errstr_size);
		if (rc)
			goto out_free;
		d->shenshan_flush_ms = conf->shenshan_flush_ms > 0 ? conf->shenshan_flush_ms : 2000;
	}
	rc = cps_demo_kafka_start(d->kafka, errstr, errstr_size);
	if (rc)
		goto out_free;
	if (pthread_create(&d->thread, NULL, demo_thread, d) != 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "demo: starting the thread failed");
		goto out_free;
	}
	d->thread_started = true;
	fprintf(stderr, "demo: producing %zu people (seed %llu) to '%s'\n",
	        conf->people ? conf->people : (size_t)CPS_DEMO_DEFAULT_PEOPLE,
	        (unsigned long long)conf->seed, conf->bootstrap);
	*out = d;
	return CPS_OK;

out_free:
	demo_free(d);
	return rc;
}

int cps_demo_wait_loaded(struct cps_demo *d, int timeout_ms, char *errstr, size_t errstr_size)
{
	int64_t deadline = wall_ms() + timeout_ms;
	struct timespec ts = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
	int rc = CPS_OK;

	pthread_mutex_lock(&d->lock);
	while (!d->stats.loaded && !d->failed && !d->stop &&
	       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
		;
	if (d->failed)
		rc =
		    cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "demo: %s", d->stats.last_error);
	else if (!d->stats.loaded)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "demo: the initial load was not acknowledged within %d ms",
		                timeout_ms);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void cps_demo_get_stats(struct cps_demo *d, struct cps_demo_stats *out)
{
	pthread_mutex_lock(&d->lock);
	*out = d->stats;
	pthread_mutex_unlock(&d->lock);
}

void cps_demo_stop(struct cps_demo *d)
{
	int unacked;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->thread_started)
		pthread_join(d->thread, NULL);
	if (d->kafka && cps_demo_kafka_flush(d->kafka, 10000, &unacked) != CPS_OK)
		fprintf(stderr, "demo: %d messages not acknowledged at stop\n", unacked);
	demo_free(d);
}
