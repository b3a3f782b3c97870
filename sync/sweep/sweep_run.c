/*
 * One sweep run: for each platform whose source can be swept, its full data
 * read through the connector (sweep_read), each message decoded the way
 * ingest decodes it (framing, writer schema, Avro JSON, the entity's key),
 * gathered in chunks of chunk_rows for the store (sweep_store.c), then
 * compared there. Only a chunk is ever in memory.
 */
#include "sweep/sweep_int.h"

#include "base/log.h"
#include "codec/avro_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A files source names each record's writer schema in a header: that
 * schema, NULL when the header is absent; *bad when it names none known. */
static struct cps_schema *header_writer(struct cps_catalog *catalog, const struct cps_source_msg *m,
                                        bool *bad)
{
	uint64_t fp;
	struct cps_schema *s;

	switch (cps_header_fingerprint(m->headers, m->n_headers, CPS_HEADER_WRITER_FP, &fp)) {
	case 0:
		*bad = false;
		return NULL;
	case 1:
		s = cps_catalog_by_fingerprint(catalog, fp);
		*bad = s == NULL;
		return s;
	default:
		*bad = true;
		return NULL;
	}
}

/* The record of message m as Avro JSON (new reference), NULL when it does
 * not decode (ingest would dead-letter it). */
static json_t *decode(struct sweep_platform_run *pr, int ei, const struct cps_source_msg *m)
{
	struct cps_sweeper *sw = pr->sw;
	struct cps_codec *c = sw->codec[ei];
	char why[CPS_ERRSTR_SIZE];
	struct cps_schema *writer;
	bool bad;
	int rc;

	writer = header_writer(sw->conf.catalog, m, &bad);
	if (bad)
		return NULL;
	if (writer)
		rc = cps_codec_decode(c, writer == cps_codec_schema(c) ? NULL : writer, m->value,
		                      m->value_len, why, sizeof(why));
	else
		rc = cps_codec_decode_framed(c, pr->p->framing, sw->conf.catalog, sw->conf.registry,
		                             m->value, m->value_len, why, sizeof(why));
	return rc == CPS_OK ? cps_value_to_json(cps_codec_value(c), why, sizeof(why)) : NULL;
}

static int flush_chunk(struct sweep_platform_run *pr, char *errstr, size_t errstr_size)
{
	int rc;

	if (pr->in_chunk == 0)
		return CPS_OK;
	rc = cps_sweep_store_chunk(pr->sw, pr->chunk, errstr, errstr_size);
	json_array_clear(pr->chunk);
	pr->in_chunk = 0;
	return rc;
}

/* cps_sweep_sink.entity */
static int on_entity(void *arg, const char *entity, char *errstr, size_t errstr_size)
{
	struct sweep_platform_run *pr = arg;
	int ei = cps_entity_index(entity);

	if (ei < 0 || !pr->sw->codec[ei])
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "platform '%s' holds entity '%s', which has no schema",
		                  pr->p->platform, entity);
	pr->covered[ei] = true;
	return CPS_OK;
}

/* cps_sweep_sink.emit: each message decoded and keyed into the chunk. */
static int on_emit(void *arg, const struct cps_source_msg *msgs, size_t n, char *errstr,
                   size_t errstr_size)
{
	struct sweep_platform_run *pr = arg;

	for (size_t i = 0; i < n; i++) {
		const struct cps_source_msg *m = &msgs[i];
		int ei = cps_entity_index(m->entity);
		json_t *rec = NULL, *key = NULL, *row;

		if (ei < 0 || !pr->covered[ei] || m->refused)
			continue;
		pr->records++;
		if (m->value) {
			rec = decode(pr, ei, m);
			key = rec ? json_object_get(rec, cps_entity_key_field(cps_entities[ei]))
			          : NULL;
			key = json_is_string(key) ? json_incref(key) : NULL;
		} else if (m->key && m->key_len > 0 && !memchr(m->key, '\0', m->key_len)) {
			key = json_stringn(m->key, m->key_len); /* a tombstone: gone */
		}
		if (!key) {
			pr->undecodable++;
			json_decref(rec);
			continue;
		}
		row = json_pack("{s:s, s:o, s:o}", "e", cps_entities[ei], "k", key, "r",
		                rec ? rec : json_null());
		if (!row || json_array_append_new(pr->chunk, row) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (++pr->in_chunk >= pr->sw->conf.chunk_rows) {
			int rc = flush_chunk(pr, errstr, errstr_size);

			if (rc != CPS_OK)
				return rc;
		}
	}
	return CPS_OK;
}

/* Reads and compares one platform; its figures into `fig`. */
static int sweep_platform(struct cps_sweeper *sw, const struct cps_sweep_platform *p,
                          int64_t run_id, json_t *fig, char *errstr, size_t errstr_size)
{
	struct sweep_platform_run pr = {.sw = sw, .p = p, .run_id = run_id};
	struct cps_sweep_sink sink = {
	    .entity = on_entity, .emit = on_emit, .arg = &pr, .stop = &sw->stop};
	json_t *entities = json_array();
	int rc;

	pr.chunk = json_array();
	if (!pr.chunk || !entities) {
		json_decref(pr.chunk);
		json_decref(entities);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	rc = cps_sweep_store_reset(sw, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_connector_sweep_read(p->ops, p->platform, p->settings, sw->conf.chunk_rows,
		                              &sink, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = flush_chunk(&pr, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_sweep_store_compare(sw, run_id, p->platform, pr.covered, errstr,
		                             errstr_size);
	for (int i = 0; i < CPS_N_ENTITIES; i++)
		if (pr.covered[i])
			json_array_append_new(entities, json_string(cps_entities[i]));
	json_object_set_new(fig, "records", json_integer(pr.records));
	json_object_set_new(fig, "undecodable", json_integer(pr.undecodable));
	json_object_set_new(fig, "entities", entities);
	if (rc != CPS_OK)
		json_object_set_new(fig, "error", json_string(errstr));
	cps_log_info(FACILITY, "sweep %" PRId64 ": platform '%s' %s, %" PRId64 " records read",
	             run_id, p->platform, rc == CPS_OK ? "compared" : "failed", pr.records);
	json_decref(pr.chunk);
	return rc;
}

int cps_sweep_run(struct cps_sweeper *sw, int64_t run_id, json_t *platforms, char *errstr,
                  size_t errstr_size)
{
	int first = CPS_OK;

	for (size_t i = 0; i < sw->conf.n_platforms && !atomic_load(&sw->stop); i++) {
		const struct cps_sweep_platform *p = &sw->platforms[i];
		char err[CPS_ERRSTR_SIZE];
		json_t *fig;
		int rc;

		if (!p->ops->sweep_read)
			continue;
		fig = json_object();
		if (!fig || json_object_set_new(platforms, p->platform, fig) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		rc = sweep_platform(sw, p, run_id, fig, err, sizeof(err));
		if (rc != CPS_OK && first == CPS_OK) {
			first = rc;
			cps_seterr(rc, errstr, errstr_size, "platform '%s': %s", p->platform, err);
		}
		if (rc == CPS_ERR_FATAL)
			break;
	}
	if (atomic_load(&sw->stop) && first == CPS_OK)
		first = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sweep stopped");
	return first;
}
