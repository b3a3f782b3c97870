/*
 * Re-publish (republish.h): store pages (store/store_republish.c) → the
 * framed event of each row (the logged one, or cps_unified_encode, the
 * workers' encoder, on the stored record) → an idempotent producer → wait
 * until Kafka acknowledged the page → the next page. Nothing in the store
 * changes: the publisher's cursor and the log are left alone.
 */
#include "publish/republish.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/common.h"
#include "base/log.h"
#include "kafka/client.h"
#include "model/entity.h"
#include "reconcile/unified.h"
#include "store/state_facts.h"
#include "store/store_republish.h"

#include <librdkafka/rdkafka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAC "PUBLISH"

/* Delivery reports of the producer (its opaque). */
struct deliveries {
	int64_t delivered;
	int64_t failed;
	char reason[256]; /* of the last failure */
};

/* One re-publish in progress. */
struct run {
	const struct cps_republish_conf *conf;
	const struct cps_republish_request *req;
	const atomic_bool *stop;
	struct cps_republish_result *out;
	struct cps_store *store;
	rd_kafka_t *rk;
	struct cps_unified *uni; /* made on the first row the log no longer holds */
	struct deliveries dr;
	struct cps_buf buf;
};

bool cps_republish_topic_ok(const char *topic)
{
	size_t n = topic ? strlen(topic) : 0;

	if (n == 0 || n > 249 || !strcmp(topic, ".") || !strcmp(topic, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = topic[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Whether s[0..n) are n digits. */
static bool digits(const char *s, size_t n)
{
	return strspn(s, "0123456789") >= n;
}

bool cps_republish_since_ok(const char *since)
{
	const char *p = since;

	if (!p || strlen(p) < 10 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) ||
	    p[7] != '-' || !digits(p + 8, 2))
		return false;
	p += 10;
	if (!*p)
		return true;
	if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 || !digits(p + 1, 2) ||
	    p[3] != ':' || !digits(p + 4, 2) || p[6] != ':' || !digits(p + 7, 2))
		return false;
	p += 9;
	if (*p == '.') {
		size_t n = strspn(p + 1, "0123456789");

		if (n == 0 || n > 9)
			return false;
		p += 1 + n;
	}
	if (!strcmp(p, "Z") || !strcmp(p, "z"))
		return true;
	return (*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2) && p[3] == ':' &&
	       digits(p + 4, 2);
}

static bool stopping(const struct run *r)
{
	return r->stop && atomic_load(r->stop);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct deliveries *d = opaque;

	(void)rk;
	if (!m->err) {
		d->delivered++;
		return;
	}
	d->failed++;
	snprintf(d->reason, sizeof(d->reason), "%s", rd_kafka_err2str(m->err));
}

static int producer_new(struct run *r, char *errstr, size_t errstr_size)
{
	static const char *const fixed[][2] = {{"acks", "all"}, {"enable.idempotence", "true"}};
	rd_kafka_conf_t *conf = cps_kafka_conf_new_with(CPS_KAFKA_PRODUCER, r->conf->bootstrap,
	                                                r->conf->kafka_properties, fixed,
	                                                CPS_ARRAY_SIZE(fixed), errstr, errstr_size);

	if (!conf)
		return CPS_ERR_INVALID;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &r->dr);
	r->rk = cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "re-publish producer", errstr,
	                             errstr_size);
	return r->rk ? CPS_OK : CPS_ERR_INVALID;
}

/* The framed event of a current record the log no longer holds: the live
 * stream's encoder on the stored key state, at its version and updated_at. */
static int encode_row(struct run *r, const struct cps_republish_row *row, char *errstr,
                      size_t errstr_size)
{
	struct cps_key_state st;
	json_t *rec = NULL, *prov = NULL;
	int rc;

	if (!r->uni) {
		struct cps_unified_conf uc = {.catalog = r->conf->catalog,
		                              .framing = r->conf->framing,
		                              .registry = r->conf->registry,
		                              .topic_prefix = r->conf->topic_prefix};

		rc = cps_unified_new(&uc, &r->uni, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	rc = cps_key_state_init(&st, r->req->entity, row->key);
	if (rc != CPS_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (row->record && !(rec = json_loads(row->record, 0, NULL)))
		goto out_bad;
	if (row->prov ? cps_prov_decode(row->prov, row->prov_len, &prov, NULL, errstr, errstr_size)
	              : row->provenance && !(prov = json_loads(row->provenance, 0, NULL)))
		goto out_bad;
	st.version = row->version;
	st.deleted = row->deleted;
	if (rec) {
		json_decref(st.record);
		st.record = rec;
	}
	if (prov) {
		json_decref(st.provenance);
		st.provenance = prov;
	}
	cps_buf_reset(&r->buf);
	rc = cps_unified_encode(r->uni, &st, NULL, row->updated_ms, &r->buf, errstr, errstr_size);
	cps_key_state_release(&st);
	return rc;
out_bad:
	json_decref(rec);
	cps_key_state_release(&st);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
	                  "store: the %s record or provenance of version %lld does not read",
	                  r->req->entity, (long long)row->version);
}

static int produce_one(struct run *r, const char *key, const void *payload, size_t len,
                       char *errstr, size_t errstr_size)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(r->rk, RD_KAFKA_V_TOPIC(r->out->topic),
		                        RD_KAFKA_V_KEY(key, strlen(key)),
		                        RD_KAFKA_V_VALUE((void *)payload, len),
		                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stopping(r))
			break;
		rd_kafka_poll(r->rk, 100);
	}
	if (err)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "producing to '%s' failed: %s", r->out->topic,
		                  rd_kafka_err2str(err));
	return CPS_OK;
}

/* Waits until Kafka acknowledged (or refused) everything produced. */
static int wait_delivered(struct run *r, char *errstr, size_t errstr_size)
{
	char fatal[256];

	while (rd_kafka_outq_len(r->rk) > 0 && !stopping(r)) {
		rd_kafka_flush(r->rk, 200);
		if (rd_kafka_fatal_error(r->rk, fatal, sizeof(fatal)))
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                  "the re-publish producer failed: %s", fatal);
	}
	r->out->events = r->dr.delivered;
	if (stopping(r))
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "re-publish stopped: cpsync is shutting down");
	if (r->dr.failed)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "%lld events not delivered to '%s': %s", (long long)r->dr.failed,
		                  r->out->topic, r->dr.reason);
	return CPS_OK;
}

/* Produces one page's rows and waits for them. */
static int publish_page(struct run *r, const struct cps_republish_page *page, char *errstr,
                        size_t errstr_size)
{
	int rc = CPS_OK;

	for (size_t i = 0; i < page->n && rc == CPS_OK && !stopping(r); i++) {
		const struct cps_republish_row *row = &page->rows[i];

		if (row->payload) {
			rc = produce_one(r, row->key, row->payload, row->payload_len, errstr,
			                 errstr_size);
		} else if (r->req->since) {
			r->out->skipped++; /* a version from before the change log */
		} else {
			rc = encode_row(r, row, errstr, errstr_size);
			if (rc == CPS_OK)
				rc = produce_one(r, row->key, r->buf.data, r->buf.len, errstr,
				                 errstr_size);
			if (rc == CPS_OK)
				r->out->encoded++;
		}
	}
	if (rc == CPS_OK)
		rc = wait_delivered(r, errstr, errstr_size);
	else
		wait_delivered(r, NULL, 0);
	return rc;
}

static int check_request(const struct cps_republish_conf *conf,
                         const struct cps_republish_request *req, struct cps_republish_result *out,
                         char *errstr, size_t errstr_size)
{
	if (!conf || !conf->conninfo || !conf->bootstrap || !conf->catalog)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "re-publish needs a store, Kafka and the schema catalog");
	if (cps_entity_index(req->entity) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "entity '%s' is not one cpsync knows",
		                  req->entity ? req->entity : "");
	if (req->to_topic)
		snprintf(out->topic, sizeof(out->topic), "%s", req->to_topic);
	else
		snprintf(out->topic, sizeof(out->topic), "%s%s",
		         conf->topic_prefix ? conf->topic_prefix : "cpsync.unified.", req->entity);
	if (!cps_republish_topic_ok(out->topic))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "'%s' is no Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)",
		                  out->topic);
	if (req->since && !cps_republish_since_ok(req->since))
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "since must be an RFC 3339 time (2024-05-01T00:00:00Z) or a date");
	return CPS_OK;
}

int cps_republish(const struct cps_republish_conf *conf, const struct cps_republish_request *req,
                  const atomic_bool *stop, struct cps_republish_result *out, char *errstr,
                  size_t errstr_size)
{
	struct run r = {.conf = conf, .req = req, .stop = stop, .out = out};
	struct cps_republish_pos pos = {0};
	size_t batch = conf && conf->batch ? conf->batch : 1000;
	int64_t started = cps_mono_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	cps_buf_init(&r.buf, 0);
	rc = check_request(conf, req, out, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_store_open(conf->conninfo, &r.store, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = producer_new(&r, errstr, errstr_size);
	while (rc == CPS_OK) {
		struct cps_republish_page page;
		size_t n;

		if (req->since)
			rc = cps_store_changes_page(r.store, req->entity, req->since, batch, &pos,
			                            &page, errstr, errstr_size);
		else
			rc = cps_store_current_page(r.store, req->entity, batch, &pos, &page,
			                            errstr, errstr_size);
		if (rc != CPS_OK)
			break;
		out->pages++;
		n = page.n;
		if (n)
			rc = publish_page(&r, &page, errstr, errstr_size);
		cps_republish_page_release(&page);
		if (n < batch)
			break;
	}
	if (r.rk) {
		rd_kafka_purge(r.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_destroy(r.rk);
	}
	out->events = r.dr.delivered;
	out->elapsed_ms = cps_mono_ms() - started;
	cps_store_close(r.store);
	cps_unified_free(r.uni);
	cps_buf_release(&r.buf);
	cps_republish_pos_release(&pos);
	if (rc == CPS_OK)
		cps_log_info(
		    FAC,
		    "re-published %lld %s events to '%s' (%lld encoded again, %lld skipped) in %lld ms",
		    (long long)out->events, req->entity, out->topic, (long long)out->encoded,
		    (long long)out->skipped, (long long)out->elapsed_ms);
	return rc;
}
