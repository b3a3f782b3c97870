/*
 * Dead letters of one source batch (see deadletter.h): collected while the
 * batch is processed, then produced to the dead-letter topic and written to
 * the store before the source batch is committed.
 */
#include "ingest/deadletter.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_FULL_WAIT_MS 30000

void cps_deadletters_init(struct cps_deadletters *d)
{
	memset(d, 0, sizeof(*d));
}

void cps_deadletters_release(struct cps_deadletters *d)
{
	free(d->items);
	free(d->text);
	cps_deadletters_init(d);
}

void cps_deadletters_reset(struct cps_deadletters *d)
{
	d->n = 0;
}

int cps_deadletters_add(struct cps_deadletters *d, const char *platform,
                        const struct cps_source_msg *m, const char *entity, const char *reason,
                        int64_t received_ms, char *errstr, size_t errstr_size)
{
	struct cps_deadletter_text *t;
	struct cps_dead_letter *dl;

	if (d->n == d->cap) {
		size_t cap_text = d->cap; /* items and text grow together, under d->cap */

		if (cps_grow(&d->text, &cap_text, d->n + 1, sizeof(*d->text)) != 0 ||
		    cps_grow(&d->items, &d->cap, d->n + 1, sizeof(*d->items)) != 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	t = &d->text[d->n];
	dl = &d->items[d->n];
	snprintf(t->platform, sizeof(t->platform), "%s", platform);
	snprintf(t->origin, sizeof(t->origin), "%s", m->origin);
	snprintf(t->entity, sizeof(t->entity), "%s", entity ? entity : "");
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	*dl = (struct cps_dead_letter){
	    .raw = m->value,
	    .raw_len = m->value_len,
	    .raw_key = m->key,
	    .raw_key_len = m->key_len,
	    .received_ms = received_ms,
	};
	d->n++;
	return CPS_OK;
}

/* Points each item's texts into d->text (which may have moved since add). */
static void fix_pointers(struct cps_deadletters *d)
{
	for (size_t i = 0; i < d->n; i++) {
		d->items[i].platform = d->text[i].platform;
		d->items[i].origin = d->text[i].origin;
		d->items[i].entity = d->text[i].entity[0] ? d->text[i].entity : NULL;
		d->items[i].reason = d->text[i].reason;
	}
}

static int produce_one(rd_kafka_t *rk, const char *topic, const struct cps_dead_letter *dl,
                       const struct cps_deadletter_text *t, bool raw, char *errstr,
                       size_t errstr_size)
{
	int64_t deadline = cps_mono_ms() + QUEUE_FULL_WAIT_MS;
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
	rd_kafka_resp_err_t err;

	rd_kafka_header_add(hdrs, CPS_DEADLETTER_HDR_REASON, -1, t->reason, -1);
	rd_kafka_header_add(hdrs, CPS_DEADLETTER_HDR_ORIGIN, -1, t->origin, -1);
	rd_kafka_header_add(hdrs, CPS_DEADLETTER_HDR_PLATFORM, -1, t->platform, -1);
	if (t->entity[0])
		rd_kafka_header_add(hdrs, CPS_DEADLETTER_HDR_ENTITY, -1, t->entity, -1);
	for (;;) {
		err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(topic),
		    RD_KAFKA_V_KEY(raw ? (void *)dl->raw_key : NULL, raw ? dl->raw_key_len : 0),
		    RD_KAFKA_V_VALUE(raw ? (void *)dl->raw : NULL, raw ? dl->raw_len : 0),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cps_mono_ms() >= deadline)
			break;
		rd_kafka_poll(rk, 50);
	}
	if (!err)
		return CPS_OK;
	rd_kafka_headers_destroy(hdrs); /* still ours when producev failed */
	return cps_seterr(err == RD_KAFKA_RESP_ERR__FATAL ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
	                  errstr, errstr_size, "producing a dead letter to '%s' failed: %s", topic,
	                  rd_kafka_err2str(err));
}

int cps_deadletters_produce(const struct cps_deadletters *d, rd_kafka_t *rk, const char *topic,
                            bool raw, char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < d->n; i++) {
		int rc =
		    produce_one(rk, topic, &d->items[i], &d->text[i], raw, errstr, errstr_size);

		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

int cps_deadletters_store(struct cps_deadletters *d, struct cps_store *store, char *errstr,
                          size_t errstr_size)
{
	if (d->n == 0)
		return CPS_OK;
	fix_pointers(d);
	return cps_store_add_dead_letters(store, d->items, d->n, errstr, errstr_size);
}
