/*
 * Decoder of the pgoutput protocol (version 1) and of the walsender's
 * CopyData envelopes, written against PostgreSQL's "Logical Replication
 * Message Formats" and "Streaming Replication Protocol" pages. Every read is
 * bounds-checked: a truncated or hostile message is CPS_ERR_INVALID.
 */
#include "connectors/postgres/pgoutput.h"

#include "base/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const uint8_t *p, *end;
	const char *what; /* first thing that failed */
};

static bool need(struct reader *r, size_t n, const char *what)
{
	if (r->what)
		return false;
	if ((size_t)(r->end - r->p) < n) {
		r->what = what;
		return false;
	}
	return true;
}

static uint8_t rd8(struct reader *r, const char *what)
{
	if (!need(r, 1, what))
		return 0;
	return *r->p++;
}

static uint16_t rd16(struct reader *r, const char *what)
{
	uint16_t v;

	if (!need(r, 2, what))
		return 0;
	v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static uint32_t rd32(struct reader *r, const char *what)
{
	uint32_t v;

	if (!need(r, 4, what))
		return 0;
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static uint64_t rd64(struct reader *r, const char *what)
{
	uint64_t hi = rd32(r, what);

	return hi << 32 | rd32(r, what);
}

/* A NUL-terminated string inside the message. */
static const char *rdstr(struct reader *r, const char *what)
{
	const uint8_t *nul;
	const char *s;

	if (r->what)
		return "";
	nul = memchr(r->p, 0, (size_t)(r->end - r->p));
	if (!nul) {
		r->what = what;
		return "";
	}
	s = (const char *)r->p;
	r->p = nul + 1;
	return s;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

int cps_pgo_parse_frame(const void *buf, size_t len, struct cps_pgo_frame *out, char *errstr,
                        size_t errstr_size)
{
	struct reader r = {buf, (const uint8_t *)buf + len, NULL};

	memset(out, 0, sizeof(*out));
	out->kind = (char)rd8(&r, "frame type");
	if (out->kind == 'w') {
		out->wal_start = rd64(&r, "XLogData start");
		out->wal_end = rd64(&r, "XLogData end");
		out->send_time = (int64_t)rd64(&r, "XLogData send time");
		out->data = r.p;
		out->len = (size_t)(r.end - r.p);
	} else if (out->kind == 'k') {
		out->wal_end = rd64(&r, "keepalive end");
		out->send_time = (int64_t)rd64(&r, "keepalive send time");
		out->reply_requested = rd8(&r, "keepalive reply flag") != 0;
	} else if (!r.what) {
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "unknown replication frame type 0x%02x",
		                  (unsigned)(uint8_t)out->kind);
	}
	if (r.what)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "truncated replication frame at '%s'", r.what);
	return CPS_OK;
}

size_t cps_pgo_status_update(uint8_t out[34], uint64_t write, uint64_t flush, uint64_t apply,
                             int64_t now_us_2000, bool reply)
{
	out[0] = 'r';
	put64(out + 1, write);
	put64(out + 9, flush);
	put64(out + 17, apply);
	put64(out + 25, (uint64_t)now_us_2000);
	out[33] = reply ? 1 : 0;
	return 34;
}

void cps_pgo_decoder_init(struct cps_pgo_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void cps_pgo_decoder_release(struct cps_pgo_decoder *d)
{
	free(d->cols);
	free(d->vals[0]);
	free(d->vals[1]);
	free(d->relids);
	memset(d, 0, sizeof(*d));
}

/* TupleData into slot `which` of the decoder. Returns false on out of memory. */
static bool read_tuple(struct cps_pgo_decoder *d, struct reader *r, int which,
                       struct cps_pgo_tuple *t)
{
	uint16_t n = rd16(r, "tuple column count");

	t->n = 0;
	if (r->what)
		return true;
	/* each column takes at least one byte: refuse counts the message cannot hold */
	if ((size_t)(r->end - r->p) < n) {
		r->what = "tuple columns";
		return true;
	}
	if (cps_grow(&d->vals[which], &d->cap_vals[which], n ? n : 1, sizeof(struct cps_pgo_value)))
		return false;
	t->vals = d->vals[which];
	for (uint16_t i = 0; i < n && !r->what; i++) {
		struct cps_pgo_value *v = &t->vals[i];

		v->kind = (char)rd8(r, "tuple value kind");
		v->data = NULL;
		v->len = 0;
		if (v->kind == 't' || v->kind == 'b') {
			v->len = rd32(r, "tuple value length");
			if (need(r, v->len, "tuple value")) {
				v->data = (const char *)r->p;
				r->p += v->len;
			}
		} else if (v->kind != 'n' && v->kind != 'u' && !r->what) {
			r->what = "tuple value kind";
		}
	}
	t->n = n;
	return true;
}

/* A logical decoding message (pg_logical_emit_message): flags, lsn,
 * prefix, content. */
static void decode_message(struct reader *r, struct cps_pgo_msg *m)
{
	m->flags = rd8(r, "message flags");
	m->lsn = rd64(r, "message lsn");
	m->name = rdstr(r, "message prefix");
	m->content_len = rd32(r, "message length");
	if (!r->what && (size_t)(r->end - r->p) < m->content_len)
		r->what = "message content";
	if (!r->what) {
		m->content = (const char *)r->p;
		r->p += m->content_len;
	}
}

int cps_pgo_decode(struct cps_pgo_decoder *d, const void *buf, size_t len, struct cps_pgo_msg *m,
                   char *errstr, size_t errstr_size)
{
	struct reader r = {buf, (const uint8_t *)buf + len, NULL};
	bool ok = true;
	uint8_t tag;

	memset(m, 0, sizeof(*m));
	tag = rd8(&r, "message type");
	m->kind = (enum cps_pgo_kind)tag;
	switch (tag) {
	case 'B':
		m->lsn = rd64(&r, "begin final lsn");
		m->commit_ts = (int64_t)rd64(&r, "begin timestamp");
		m->xid = rd32(&r, "begin xid");
		break;
	case 'C':
		m->flags = rd8(&r, "commit flags");
		m->lsn = rd64(&r, "commit lsn");
		m->end_lsn = rd64(&r, "commit end lsn");
		m->commit_ts = (int64_t)rd64(&r, "commit timestamp");
		break;
	case 'O':
		m->lsn = rd64(&r, "origin lsn");
		m->name = rdstr(&r, "origin name");
		break;
	case 'Y':
		m->relid = rd32(&r, "type oid");
		m->nspname = rdstr(&r, "type namespace");
		m->name = rdstr(&r, "type name");
		break;
	case 'R':
		m->relid = rd32(&r, "relation oid");
		m->nspname = rdstr(&r, "relation namespace");
		m->relname = rdstr(&r, "relation name");
		m->replident = (char)rd8(&r, "relation replica identity");
		m->ncols = rd16(&r, "relation column count");
		if (r.what)
			break;
		if ((size_t)(r.end - r.p) < (size_t)m->ncols * 10) {
			r.what = "relation columns";
			break;
		}
		ok = 0 ==
		     cps_grow(&d->cols, &d->cap_cols, m->ncols ? m->ncols : 1, sizeof(*d->cols));
		if (!ok)
			break;
		m->cols = d->cols;
		for (uint16_t i = 0; i < m->ncols && !r.what; i++) {
			m->cols[i].flags = rd8(&r, "column flags");
			m->cols[i].name = rdstr(&r, "column name");
			m->cols[i].type_oid = rd32(&r, "column type");
			m->cols[i].typmod = (int32_t)rd32(&r, "column type modifier");
		}
		break;
	case 'I':
		m->relid = rd32(&r, "insert relation");
		if (rd8(&r, "insert tuple tag") != 'N' && !r.what)
			r.what = "insert tuple tag";
		ok = read_tuple(d, &r, 1, &m->new_tuple);
		m->has_new = true;
		break;
	case 'U':
	case 'D': {
		uint8_t t;

		m->relid = rd32(&r, "change relation");
		t = rd8(&r, "change tuple tag");
		if (t == 'K' || t == 'O') {
			m->old_kind = (char)t;
			ok = read_tuple(d, &r, 0, &m->old_tuple);
			if (tag == 'U')
				t = rd8(&r, "update new tuple tag");
		} else if (tag == 'D' && !r.what) {
			r.what = "delete tuple tag";
		}
		if (tag == 'U' && ok) {
			if (t != 'N' && !r.what)
				r.what = "update new tuple tag";
			ok = read_tuple(d, &r, 1, &m->new_tuple);
			m->has_new = true;
		}
		break;
	}
	case 'T':
		m->n_relids = rd32(&r, "truncate relation count");
		m->truncate_options = rd8(&r, "truncate options");
		if (r.what)
			break;
		if ((size_t)(r.end - r.p) / 4 < m->n_relids) {
			r.what = "truncate relations";
			break;
		}
		ok = 0 == cps_grow(&d->relids, &d->cap_relids, m->n_relids ? m->n_relids : 1,
		                   sizeof(uint32_t));
		m->relids = d->relids;
		for (uint32_t i = 0; ok && i < m->n_relids; i++)
			m->relids[i] = rd32(&r, "truncate relation");
		break;
	case 'M':
		decode_message(&r, m);
		break;
	default:
		if (r.what)
			break;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "unknown pgoutput message type 0x%02x", (unsigned)tag);
	}
	if (!ok)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (r.what)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "truncated pgoutput message at '%s'", r.what);
	if (r.p != r.end)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "pgoutput message '%c' has %zu bytes past its end", (char)tag,
		                  (size_t)(r.end - r.p));
	return CPS_OK;
}

void cps_pgo_relcache_init(struct cps_pgo_relcache *rc)
{
	memset(rc, 0, sizeof(*rc));
}

static void relation_release(struct cps_pgo_relation *rel)
{
	for (uint16_t i = 0; rel->colnames && i < rel->ncols; i++)
		free(rel->colnames[i]);
	free(rel->colnames);
	free(rel->type_oids);
	free(rel->colflags);
	free(rel->nspname);
	free(rel->relname);
}

void cps_pgo_relcache_release(struct cps_pgo_relcache *rc)
{
	for (size_t i = 0; i < rc->n; i++)
		relation_release(&rc->rels[i]);
	free(rc->rels);
	memset(rc, 0, sizeof(*rc));
}

struct cps_pgo_relation *cps_pgo_relcache_get(struct cps_pgo_relcache *rc, uint32_t relid)
{
	for (size_t i = 0; i < rc->n; i++)
		if (rc->rels[i].relid == relid)
			return &rc->rels[i];
	return NULL;
}

struct cps_pgo_relation *cps_pgo_relcache_put(struct cps_pgo_relcache *rc,
                                              const struct cps_pgo_msg *m)
{
	struct cps_pgo_relation fresh = {0}, *slot;
	bool ok;

	fresh.relid = m->relid;
	fresh.replident = m->replident;
	fresh.ncols = m->ncols;
	fresh.nspname = strdup(m->nspname);
	fresh.relname = strdup(m->relname);
	fresh.colnames = calloc(m->ncols + 1u, sizeof(char *));
	fresh.type_oids = calloc(m->ncols + 1u, sizeof(uint32_t));
	fresh.colflags = calloc(m->ncols + 1u, 1);
	ok = fresh.nspname && fresh.relname && fresh.colnames && fresh.type_oids && fresh.colflags;
	for (uint16_t i = 0; ok && i < m->ncols; i++) {
		fresh.colnames[i] = strdup(m->cols[i].name);
		fresh.type_oids[i] = m->cols[i].type_oid;
		fresh.colflags[i] = m->cols[i].flags;
		ok = fresh.colnames[i] != NULL;
	}
	if (!ok)
		goto out_free;
	slot = cps_pgo_relcache_get(rc, m->relid);
	if (slot) {
		fresh.user = slot->user;
		relation_release(slot);
		*slot = fresh;
		return slot;
	}
	if (cps_grow(&rc->rels, &rc->cap, rc->n + 1, sizeof(*rc->rels)) != 0)
		goto out_free;
	rc->rels[rc->n] = fresh;
	return &rc->rels[rc->n++];

out_free:
	relation_release(&fresh);
	return NULL;
}

void cps_pgo_lsn_format(uint64_t lsn, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

int cps_pgo_lsn_parse(const char *text, uint64_t *out)
{
	unsigned int hi, lo;
	int n = 0;

	if (!text || sscanf(text, "%X/%X%n", &hi, &lo, &n) != 2 || text[n] != '\0')
		return -1;
	*out = (uint64_t)hi << 32 | lo;
	return 0;
}
