/*
 * The store's writes: one reconcile batch (key states, change log,
 * conflicts, audit, ingest offsets) and dead letters, each as ONE
 * transaction in pipeline mode (store_pipeline.c). The parameters of each
 * row are built here, in a parameter set (pg_params.c: jsonb text via jsonb.c).
 * The batch's key states, with the change-log rows of their versions, are
 * one statement over binary arrays (pg_array.c), not one per state: the
 * server's start-up and planning work per statement was paid per event.
 */
#include "store/store.h"

#include "base/common.h"
#include "base/histogram.h"
#include "store/jsonb.h"
#include "store/pg_array.h"
#include "store/pg_params.h"
#include "store/state_facts.h"
#include "store/state_typed.h"
#include "store/store_conn_int.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *close_status(const char *how)
{
	if (how && !strcmp(how, "auto"))
		return "auto_closed";
	if (how && !strcmp(how, "resolved"))
		return "resolved";
	if (how && !strcmp(how, "dismissed"))
		return "dismissed";
	return NULL;
}

/* A row's first three parameters: its entity, key and version. */
static void params_row(struct cps_pg_params *p, const char *entity, const char *key,
                       int64_t version)
{
	p->v[0] = entity;
	p->v[1] = key;
	p->v[2] = cps_pg_params_int(p, 0, version);
}

/* Sends statement `id` with p's parameters unless encoding them failed
 * (`encoded` nonzero: out of memory encoding `what`); clears p either way. */
static int params_send(struct cps_store *s, enum stmt_id id, struct cps_pg_params *p, int encoded,
                       const char *what, char *errstr, size_t errstr_size)
{
	int rc;

	if (encoded)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "store: out of memory encoding %s", what);
	else
		rc = cps_store_pipeline_send(s, id, p->v, p->len, p->fmt, errstr, errstr_size);
	cps_pg_params_clear(p);
	return rc;
}

/* A state of the batch, and the emit of its version when that emit
 * carries the state's own record and provenance: the two rows then go in
 * one statement (ST_RECORDS_MERGE). */
struct state_slot {
	const struct cps_key_state *st; /* or */
	const struct cps_tstate *ts;
	const char *key; /* the state's own key string */
	const struct cps_store_emit *logged;
};

/* The batch's states, found by key (an emit names its state's key string
 * itself: worker_apply.c). Open addressing on the pointer. */
struct state_index {
	struct state_slot *v;
	size_t *slot; /* index + 1 into v; 0 empty */
	size_t n_slots;
	unsigned bits; /* n_slots = 2^bits */
};

static size_t key_slot(const struct state_index *t, const char *key)
{
	size_t i = (size_t)(((uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ULL) >> (64 - t->bits));

	while (t->slot[i] && t->v[t->slot[i] - 1].key != key)
		i = (i + 1) & (t->n_slots - 1);
	return i;
}

static int state_index_init(struct state_index *t, const struct cps_store_batch *b)
{
	size_t n = b->n_states + b->n_tstates;

	for (t->bits = 4, t->n_slots = 16; t->n_slots < 2 * n; t->bits++)
		t->n_slots *= 2;
	t->v = calloc(n ? n : 1, sizeof(*t->v));
	t->slot = calloc(t->n_slots, sizeof(*t->slot));
	if (!t->v || !t->slot)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i < b->n_states)
			t->v[i] = (struct state_slot){.st = b->states[i], .key = b->states[i]->key};
		else
			t->v[i] = (struct state_slot){.ts = b->tstates[i - b->n_states],
			                              .key = b->tstates[i - b->n_states]->key};
		t->slot[key_slot(t, t->v[i].key)] = i + 1;
	}
	return 0;
}

static void state_index_release(struct state_index *t)
{
	free(t->v);
	free(t->slot);
}

/* The slot of e's state when e is that state's version as it is written:
 * the same record and the same provenance entries (reconcile.c replaces
 * entries, never changes one, so the same entries are the same content);
 * NULL otherwise (an earlier version of the key in the batch, a delete). */
static struct state_slot *state_of_emit(const struct state_index *t, const struct cps_store_emit *e)
{
	size_t i = key_slot(t, e->key);
	struct state_slot *x = t->slot[i] ? &t->v[t->slot[i] - 1] : NULL;
	const char *k;
	json_t *v;

	if (x && x->ts) /* an emit of a typed state says whether it is the state's */
		return x->ts->version == e->version && e->as_state ? x : NULL;
	if (!x || x->st->version != e->version || !e->record || e->record != x->st->record ||
	    !json_is_object(e->provenance) || !json_is_object(x->st->provenance) ||
	    json_object_size(e->provenance) != json_object_size(x->st->provenance))
		return NULL;
	json_object_foreach (e->provenance, k, v)
		if (json_object_get(x->st->provenance, k) != v)
			return NULL;
	return x;
}

/* An emit's operation, changed fields, topic and framed unified event: the
 * slots 3, 6, 7 and 8 of ST_CHANGE_APPEND. */
static int params_emit(struct cps_pg_params *p, const struct cps_store_emit *e, char *errstr,
                       size_t errstr_size)
{
	if (e->payload_len > INT32_MAX)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "store: unified event too large");
	p->v[3] = cps_op_name(e->op);
	p->v[7] = e->topic;
	p->v[8] = e->payload ? (const char *)e->payload : "";
	p->len[8] = (int)e->payload_len;
	p->fmt[8] = 1;
	if (e->encoded)
		p->v[6] = e->changed_text;
	else if (cps_pg_params_json(p, 6, e->changed_fields, NULL))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "store: out of memory encoding an emit");
	return CPS_OK;
}

/* The columns of ST_RECORDS_MERGE, one binary array each. */
enum merge_col {
	M_ENTITY,
	M_KEY,
	M_VERSION,
	M_DELETED,
	M_RECORD,
	M_PROV,
	M_FACTS,
	M_CONFLICTS,
	M_OP,
	M_CHANGED,
	M_TOPIC,
	M_PAYLOAD,
	M_COUNT
};

static const enum cps_pg_oid MERGE_OIDS[M_COUNT] = {
    CPS_OID_TEXT,  CPS_OID_TEXT,  CPS_OID_INT8, CPS_OID_BOOL,  CPS_OID_JSONB, CPS_OID_BYTEA,
    CPS_OID_BYTEA, CPS_OID_JSONB, CPS_OID_TEXT, CPS_OID_JSONB, CPS_OID_TEXT,  CPS_OID_BYTEA};

/* Appends j's jsonb text (NULL json: `def`, NULL def: SQL NULL). */
static int merge_jsonb(struct cps_pg_array *a, json_t *j, const char *def)
{
	int ok, rc;
	char *text = cps_jsonb_param(j, def, &ok);

	rc = ok ? cps_pg_array_jsonb(a, text) : -1;
	free(text);
	return rc;
}

/* Appends the bytes `encode` writes for j, in place. */
static int merge_encoded(struct cps_pg_array *a, json_t *j, cps_tree_encode_fn *encode)
{
	char err[CPS_ERRSTR_SIZE];

	if (cps_pg_array_open(a) || encode(j, &a->b, err, sizeof(err)) != CPS_OK)
		return -1;
	cps_pg_array_close(a);
	return 0;
}

/* The emit whose version's change-log row goes with its state: its
 * operation, changed fields, topic and framed unified event; NULLs when the
 * state's version has no such emit. */
static int merge_emit(struct cps_pg_array *m, const struct cps_store_emit *e)
{
	if (!e)
		return cps_pg_array_null(&m[M_OP]) || cps_pg_array_null(&m[M_CHANGED]) ||
		       cps_pg_array_null(&m[M_TOPIC]) || cps_pg_array_null(&m[M_PAYLOAD]);
	return cps_pg_array_text(&m[M_OP], cps_op_name(e->op)) ||
	       (e->encoded ? (e->changed_text ? cps_pg_array_jsonb(&m[M_CHANGED], e->changed_text)
	                                      : cps_pg_array_null(&m[M_CHANGED]))
	                   : merge_jsonb(&m[M_CHANGED], e->changed_fields, NULL)) ||
	       cps_pg_array_text(&m[M_TOPIC], e->topic) ||
	       cps_pg_array_bytes(&m[M_PAYLOAD], e->payload ? e->payload : (const uint8_t *)"",
	                          e->payload_len);
}

/* A typed state's conflicts as jsonb text: "{}" when none is open (the
 * common case), else the JSON view's. */
static int merge_tconflicts(struct cps_pg_array *a, const struct cps_tstate *ts)
{
	struct cps_key_state view;
	bool open = false;
	int rc;

	for (uint32_t f = 0; !open && f < ts->n_fields; f++)
		open = ts->conf[f].open;
	if (!open)
		return cps_pg_array_jsonb(a, "{}");
	if (cps_tstate_to_json(ts, &view, NULL, 0) != CPS_OK)
		return -1;
	rc = merge_jsonb(a, view.conflicts, "{}");
	cps_key_state_release(&view);
	return rc;
}

/* Appends what `write` writes of ts, in place; after jsonb's version byte
 * 1 when `jsonb` (the binary form of a jsonb element). */
static int merge_typed(struct cps_pg_array *a, const struct cps_tstate *ts,
                       int (*write)(const struct cps_tstate *, struct cps_buf *, char *, size_t),
                       bool jsonb)
{
	if (cps_pg_array_open(a) || (jsonb && cps_buf_append_byte(&a->b, 1)) ||
	    write(ts, &a->b, NULL, 0) != CPS_OK)
		return -1;
	cps_pg_array_close(a);
	return 0;
}

/* One typed state's elements in every column. */
static int merge_tstate(struct cps_pg_array *m, const struct state_slot *t)
{
	const struct cps_tstate *ts = t->ts;

	return cps_pg_array_text(&m[M_ENTITY], ts->entity) ||
	       cps_pg_array_text(&m[M_KEY], ts->key) ||
	       cps_pg_array_int8(&m[M_VERSION], ts->version) ||
	       cps_pg_array_bool(&m[M_DELETED], ts->deleted) ||
	       (ts->has_record ? merge_typed(&m[M_RECORD], ts, cps_tstate_record_jsonb, true)
	                       : cps_pg_array_null(&m[M_RECORD])) ||
	       merge_typed(&m[M_PROV], ts, cps_tstate_prov_encode, false) ||
	       merge_typed(&m[M_FACTS], ts, cps_tstate_facts_encode, false) ||
	       merge_tconflicts(&m[M_CONFLICTS], ts) || merge_emit(m, t->logged);
}

/* One state's elements in every column. */
static int merge_state(struct cps_pg_array *m, const struct state_slot *t)
{
	const struct cps_key_state *st = t->st;

	if (t->ts)
		return merge_tstate(m, t);

	return cps_pg_array_text(&m[M_ENTITY], st->entity) ||
	       cps_pg_array_text(&m[M_KEY], st->key) ||
	       cps_pg_array_int8(&m[M_VERSION], st->version) ||
	       cps_pg_array_bool(&m[M_DELETED], st->deleted) ||
	       merge_jsonb(&m[M_RECORD], json_is_null(st->record) ? NULL : st->record, NULL) ||
	       (json_is_object(st->provenance)
	            ? merge_encoded(&m[M_PROV], st->provenance, cps_prov_encode)
	            : cps_pg_array_null(&m[M_PROV])) ||
	       merge_encoded(&m[M_FACTS], st->platforms, cps_facts_encode) ||
	       merge_jsonb(&m[M_CONFLICTS], st->conflicts, "{}") || merge_emit(m, t->logged);
}

/* Every state of the batch, with the change-log rows of the versions that
 * go with them, in one statement. */
static int send_states(struct cps_store *s, const struct state_index *t, size_t n, char *errstr,
                       size_t errstr_size)
{
	struct cps_pg_array m[M_COUNT];
	const char *v[M_COUNT];
	int len[M_COUNT], fmt[M_COUNT], rc = 0;

	if (!n)
		return CPS_OK;
	for (int c = 0; c < M_COUNT; c++)
		cps_pg_array_init(&m[c], MERGE_OIDS[c]);
	for (size_t i = 0; !rc && i < n; i++) {
		const struct cps_store_emit *e = t->v[i].logged;

		if (e && e->payload_len > INT32_MAX)
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "store: unified event too large");
		else if (merge_state(m, &t->v[i]))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                "store: out of memory encoding the batch's key states");
	}
	for (int c = 0; !rc && c < M_COUNT; c++) {
		fmt[c] = 1;
		if (!(v[c] = cps_pg_array_finish(&m[c], &len[c])))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	}
	if (!rc)
		rc = cps_store_pipeline_send(s, ST_RECORDS_MERGE, v, len, fmt, errstr, errstr_size);
	for (int c = 0; c < M_COUNT; c++)
		cps_pg_array_release(&m[c]);
	return rc;
}

/* The change-log row of an emitted version that is not its state's row:
 * history and what the publisher sends, in one row. */
static int send_emit(struct cps_store *s, const struct cps_store_emit *e, char *errstr,
                     size_t errstr_size)
{
	struct cps_pg_params p = {0};
	int rc;

	params_row(&p, e->entity, e->key, e->version);
	rc = params_emit(&p, e, errstr, errstr_size);
	if (rc != CPS_OK) {
		cps_pg_params_clear(&p);
		return rc;
	}
	if (e->as_state) {
		rc = cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "store: an emit of %s version %lld stands for a state the batch lacks",
		    e->entity, (long long)e->version);
		cps_pg_params_clear(&p);
		return rc;
	}
	if (e->encoded) {
		p.v[4] = e->record_text;
		p.v[5] = (const char *)e->prov_bin;
		p.len[5] = (int)e->prov_len;
		p.fmt[5] = 1;
		rc = e->prov_len > INT32_MAX;
	} else {
		rc = cps_pg_params_json(&p, 4, json_is_null(e->record) ? NULL : e->record, NULL) ||
		     cps_pg_params_prov(&p, 5, e->provenance);
	}
	return params_send(s, ST_CHANGE_APPEND, &p, rc, "an emit", errstr, errstr_size);
}

static int send_conflict(struct cps_store *s, const struct cps_store_conflict *c, char *errstr,
                         size_t errstr_size)
{
	struct cps_pg_params p = {0};
	enum stmt_id id;
	int rc;

	p.v[0] = c->entity;
	p.v[1] = c->key;
	p.v[2] = c->field;
	switch (c->kind) {
	case CPS_CONFLICT_OPEN:
		id = ST_CONFLICT_OPEN;
		rc = cps_pg_params_json(&p, 3, c->candidates, "[]");
		p.v[4] = c->rule;
		break;
	case CPS_CONFLICT_UPDATE:
		id = ST_CONFLICT_UPDATE;
		rc = cps_pg_params_json(&p, 3, c->candidates, "[]");
		break;
	case CPS_CONFLICT_CLOSE:
		id = ST_CONFLICT_CLOSE;
		p.v[3] = close_status(c->how);
		if (!p.v[3])
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "store: conflict close with unknown 'how'");
		rc = 0;
		break;
	default:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "store: unknown conflict change kind %d", (int)c->kind);
	}
	return params_send(s, id, &p, rc, "a conflict", errstr, errstr_size);
}

static int send_audit(struct cps_store *s, const struct cps_store_audit *a, char *errstr,
                      size_t errstr_size)
{
	struct cps_pg_params p = {0};
	int rc;

	p.v[0] = a->actor;
	p.v[1] = a->action;
	p.v[2] = a->entity;
	p.v[3] = a->key;
	p.v[4] = a->field;
	p.v[7] = a->reason;
	rc =
	    cps_pg_params_json(&p, 5, a->before, NULL) || cps_pg_params_json(&p, 6, a->after, NULL);
	return params_send(s, ST_AUDIT_INSERT, &p, rc, "an audit row", errstr, errstr_size);
}

static int send_offset(struct cps_store *s, const struct cps_store_offset *o, char *errstr,
                       size_t errstr_size)
{
	struct cps_pg_params p = {0};

	p.v[0] = o->topic;
	p.v[1] = cps_pg_params_int(&p, 0, o->partition);
	p.v[2] = cps_pg_params_int(&p, 1, o->next_offset);
	p.v[3] = cps_pg_params_int(&p, 2, (int64_t)o->last_fingerprint);
	return cps_store_pipeline_send(s, ST_OFFSET_UPSERT, p.v, NULL, NULL, errstr, errstr_size);
}

/* The record's findings now: the others close, these open (or stay open). */
static int send_policy(struct cps_store *s, const struct cps_store_policy *pf, char *errstr,
                       size_t errstr_size)
{
	struct cps_pg_params p = {0};
	int rc;

	p.v[0] = pf->entity;
	p.v[1] = pf->key;
	p.v[3] = cps_pg_params_int(&p, 0, pf->version);
	if (cps_pg_params_json(&p, 2, pf->findings, "[]"))
		return params_send(s, ST_POLICY_CLOSE, &p, 1, "policy findings", errstr,
		                   errstr_size);
	rc = cps_store_pipeline_send(s, ST_POLICY_CLOSE, p.v, NULL, NULL, errstr, errstr_size);
	if (!rc && json_array_size(pf->findings))
		rc = cps_store_pipeline_send(s, ST_POLICY_OPEN, p.v, NULL, NULL, errstr,
		                             errstr_size);
	cps_pg_params_clear(&p);
	return rc;
}

int cps_store_commit_batch(struct cps_store *s, const struct cps_store_batch *b, uint64_t *xid,
                           char *errstr, size_t errstr_size)
{
	struct state_index states = {0};
	struct timespec start;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (state_index_init(&states, b) != 0) {
		state_index_release(&states);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	}
	rc = cps_store_pipeline_begin(s, errstr, errstr_size);
	if (rc) {
		state_index_release(&states);
		return rc;
	}
	/* the transaction's id, which becomes every written state's written_xid */
	rc = cps_store_pipeline_send(s, ST_CURRENT_XID, NULL, NULL, NULL, errstr, errstr_size);
	/* a key's earlier versions of the batch first: the log keeps each key's
	 * versions in order, and the state's own version goes with the state */
	for (size_t i = 0; !rc && i < b->n_emits; i++) {
		struct state_slot *x = state_of_emit(&states, &b->emits[i]);

		if (x)
			x->logged = &b->emits[i];
		else
			rc = send_emit(s, &b->emits[i], errstr, errstr_size);
	}
	if (!rc)
		rc = send_states(s, &states, b->n_states + b->n_tstates, errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_conflicts; i++)
		rc = send_conflict(s, &b->conflicts[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_audits; i++)
		rc = send_audit(s, &b->audits[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_offsets; i++)
		rc = send_offset(s, &b->offsets[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_policy; i++)
		rc = send_policy(s, &b->policy[i], errstr, errstr_size);
	rc = cps_store_pipeline_end(s, rc, errstr, errstr_size);
	state_index_release(&states);
	if (rc == CPS_OK) /* cpsync_store_commit_seconds: committed transactions only */
		cps_histogram_observe_since(&cps_hist_store_commit, &start);
	if (xid)
		*xid = rc == CPS_OK ? s->pipeline_xid : 0;
	return rc;
}

int cps_store_add_dead_letters(struct cps_store *s, const struct cps_dead_letter *dl, size_t n,
                               char *errstr, size_t errstr_size)
{
	int rc;

	if (!n)
		return CPS_OK;
	rc = cps_store_pipeline_begin(s, errstr, errstr_size);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		struct cps_pg_params p = {0};

		if (dl[i].raw_len > INT32_MAX || dl[i].raw_key_len > INT32_MAX) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "store: dead letter too large");
			break;
		}
		p.v[0] = dl[i].received_ms > 0 ? cps_pg_params_int(&p, 0, dl[i].received_ms) : NULL;
		p.v[1] = dl[i].platform;
		p.v[2] = dl[i].origin;
		p.v[3] = dl[i].entity;
		p.v[4] = dl[i].reason ? dl[i].reason : "";
		p.v[5] = dl[i].raw ? (const char *)dl[i].raw : NULL;
		p.len[5] = (int)dl[i].raw_len;
		p.fmt[5] = 1;
		p.v[6] = dl[i].raw_key ? (const char *)dl[i].raw_key : NULL;
		p.len[6] = (int)dl[i].raw_key_len;
		p.fmt[6] = 1;
		p.v[7] = dl[i].kind;
		p.v[8] = dl[i].link;
		p.v[9] = dl[i].version > 0 ? cps_pg_params_int(&p, 1, dl[i].version) : NULL;
		rc = cps_store_pipeline_send(s, ST_DEAD_LETTER_INSERT, p.v, p.len, p.fmt, errstr,
		                             errstr_size);
	}
	return cps_store_pipeline_end(s, rc, errstr, errstr_size);
}
