/*
 * The typed key state (ENGINE.md "The typed key state", step 1):
 * what struct cps_key_state holds as four jansson trees, as arrays indexed
 * by the entity's compiled schema, in an arena — no node per member, no
 * stamp copied into every fact.
 *
 * - A value is the Avro binary of its field's type, as cps_record_encode
 *   writes it (decimals minimal, one block per array or map): equal values
 *   have equal bytes, and a unified record is its fields' bytes in schema
 *   order.
 * - A stamp (effective time, source time, position) is stored once in the
 *   state's table; platforms, facts, provenance and conflict candidates
 *   refer to it by index.
 * - Platforms are referred to by their index in the state's list, in the
 *   order they first stated something (the JSON tree's order).
 *
 * cps_tstate_from_json takes exactly the shapes reconcile.c and
 * reconcile_steward.c write; any other tree — a field the entity's schema
 * lacks, a value that does not match its type, a member reconcile never
 * writes — is CPS_ERR_INVALID naming the field (never a value), and such a
 * state stays on the JSON path. cps_tstate_to_json gives back a tree
 * json_equal to the one it came from.
 */
#ifndef CPS_TYPED_STATE_H
#define CPS_TYPED_STATE_H

#include "base/arena.h"
#include "codec/record.h"
#include "reconcile/reconcile.h"

#include <stdbool.h>
#include <stdint.h>

#define CPS_TSTATE_NONE UINT32_MAX /* no stamp, no platform */

/* When a platform stated something, and where (pos NULL: null). */
struct cps_tstamp {
	int64_t eff, src;
	const char *pos;
};

/* A value in its field type's Avro binary; p NULL: no value (absent). */
struct cps_tbytes {
	const uint8_t *p;
	uint32_t len;
};

/* A platform's last-seen value of one field. */
struct cps_tfact {
	uint32_t stamp; /* CPS_TSTATE_NONE: the platform never stated the field */
	struct cps_tbytes v;
};

struct cps_tplatform {
	const char *name;
	bool withdrawn;
	uint32_t stamp;
	struct cps_tfact *facts; /* one per field of the schema, by index */
};

/* Which optional members a provenance entry carries (its JSON has exactly
 * these, besides platform, pos, eff, src, rule and rule_version). */
enum cps_tprov_has {
	CPS_TPROV_CASE = 1u << 0,
	CPS_TPROV_PENDING = 1u << 1,
	CPS_TPROV_FLAGGED = 1u << 2,
	CPS_TPROV_DISAGREEING = 1u << 3,
	CPS_TPROV_STEWARD = 1u << 4, /* steward, decided_at and reason (maybe null) */
	CPS_TPROV_SEEN = 1u << 5,    /* seen_eff, seen_src */
	CPS_TPROV_CONFLICT_ID = 1u << 6,
};

/* Where one field of the unified record got its value (reconcile.h's
 * provenance entry). */
struct cps_tprov {
	bool set;          /* the field has provenance */
	uint32_t platform; /* the winner; CPS_TSTATE_NONE: null (a steward's value) */
	uint32_t stamp;    /* the winning fact's, or the decision's */
	const char *rule;  /* "precedence", "latest", "manual" or "steward" */
	int32_t rule_version;
	uint32_t has; /* enum cps_tprov_has */
	const char *rcase;
	uint32_t n_disagreeing;
	uint32_t *disagreeing; /* platforms, in candidate order */
	const char *steward;
	const char *reason; /* NULL: null */
	int64_t decided_at, seen_eff, seen_src, conflict_id;
};

/* One candidate value of an open conflict. */
struct cps_tcand {
	uint32_t platform;
	uint32_t stamp;
	struct cps_tbytes v;
};

struct cps_tconflict {
	bool open;
	const char *rule;
	int64_t opened_at;
	uint32_t n_cands;
	struct cps_tcand *cands;
};

struct cps_tstate {
	const struct cps_record_schema *rs; /* the entity's record; borrowed */
	const char *entity, *key;
	int64_t version;
	bool deleted;
	uint32_t n_fields; /* rs->root->n */
	uint32_t n_stamps, cap_stamps;
	struct cps_tstamp *stamps;
	uint32_t n_platforms, cap_platforms;
	struct cps_tplatform *platforms;
	bool has_record;            /* false: the record is null */
	struct cps_tbytes *record;  /* n_fields values; p NULL: the record lacks it */
	struct cps_tprov *prov;     /* n_fields */
	struct cps_tconflict *conf; /* n_fields */
	struct cps_arena *arena;    /* where all of it lives; borrowed */
};

/* An empty state of (entity, key) for `rs` (a record schema), in `arena`. */
int cps_tstate_init(struct cps_tstate *st, const struct cps_record_schema *rs, const char *entity,
                    const char *key, struct cps_arena *arena, char *errstr, size_t errstr_size);

/* A copy of `src` in `arena` holding only what src refers to (its arena
 * also holds what events replaced since). CPS_ERR_FATAL when memory is out
 * (the arena keeps what was allocated until its reset). */
int cps_tstate_clone(const struct cps_tstate *src, struct cps_arena *arena, struct cps_tstate *dst);

/* The index of stamp (eff, src, pos) in st's table, added when new;
 * CPS_TSTATE_NONE when memory is out. `pos` is copied. */
uint32_t cps_tstate_stamp(struct cps_tstate *st, int64_t eff, int64_t src, const char *pos);
/* The same for a position of `pos_len` bytes, not NUL-terminated. */
uint32_t cps_tstate_stampn(struct cps_tstate *st, int64_t eff, int64_t src, const char *pos,
                           size_t pos_len);

/* The index of platform `name`, added (not withdrawn, no facts, its stamp
 * CPS_TSTATE_NONE until the caller sets one) when `add` and new;
 * CPS_TSTATE_NONE when absent and not added, or memory is out. */
uint32_t cps_tstate_platform(struct cps_tstate *st, const char *name, bool add);
/* The same for a name of `len` bytes, not NUL-terminated. */
uint32_t cps_tstate_platformn(struct cps_tstate *st, const char *name, size_t len, bool add);

/* The bytes of `b` copied into st's arena as a value; p NULL when memory
 * is out or they pass 4 GiB. */
struct cps_tbytes cps_tstate_keep(struct cps_tstate *st, const struct cps_buf *b);

/* The Avro JSON value `j` of field `f` as its Avro binary in st's arena,
 * encoded in `scratch`. CPS_ERR_INVALID when j is not of f's type,
 * CPS_ERR_FATAL when memory is out; nothing said in an errstr (callers
 * word the refusal, naming the field). */
int cps_tstate_value_from_json(struct cps_tstate *st, const struct cps_rfield *f, const json_t *j,
                               struct cps_buf *scratch, struct cps_tbytes *out);

/* The state of `js` as a typed state for `rs` in `arena`. CPS_ERR_INVALID
 * when the trees hold a shape reconcile does not write (see above),
 * CPS_ERR_FATAL when memory is out; the arena keeps what was allocated
 * until its reset. */
int cps_tstate_from_json(const struct cps_key_state *js, const struct cps_record_schema *rs,
                         struct cps_arena *arena, struct cps_tstate *out, char *errstr,
                         size_t errstr_size);

/* The record (an object or null) and the open conflicts (an object) of a
 * JSON state into `st`, whose platforms are there already (the store keeps
 * them apart from the facts). Errors as cps_tstate_from_json. */
int cps_tstate_record_from_json(struct cps_tstate *st, const json_t *record, char *errstr,
                                size_t errstr_size);
int cps_tstate_conflicts_from_json(struct cps_tstate *st, const json_t *conflicts, char *errstr,
                                   size_t errstr_size);

/* The JSON trees of `st` into `js` (initialised here; release with
 * cps_key_state_release). CPS_ERR_INVALID when a value's bytes do not
 * decode; CPS_ERR_FATAL when memory is out. */
int cps_tstate_to_json(const struct cps_tstate *st, struct cps_key_state *js, char *errstr,
                       size_t errstr_size);

/* The value of field `f` in its JSON form (Avro JSON), a new reference;
 * NULL with errstr set when its bytes do not decode. */
json_t *cps_tstate_value_json(const struct cps_tstate *st, uint32_t f, struct cps_tbytes v,
                              char *errstr, size_t errstr_size);

/* The record in its JSON form (an object of Avro JSON values, or null), a
 * new reference; NULL with errstr set when a value does not decode or
 * memory is out. */
json_t *cps_tstate_record_json(const struct cps_tstate *st, char *errstr, size_t errstr_size);

/* The record as a typed value (codec/record.h) of st's record type in
 * `arena`, its strings pointing into st's values. CPS_ERR_INVALID when there
 * is no record, it lacks a field, or a value does not decode. */
int cps_tstate_record_tval(const struct cps_tstate *st, struct cps_arena *arena,
                           struct cps_tval *out, char *errstr, size_t errstr_size);

/* The text of string or enum field `name` of the record (a union's branch
 * unwrapped), NUL-terminated in `arena` (an enum's symbol: the schema's);
 * NULL when the record lacks it, it is null or of another type. */
const char *cps_tstate_field_text(const struct cps_tstate *st, const char *name,
                                  struct cps_arena *arena);

/* The candidates of field f's open conflict as reconcile.h's conflicts keep
 * them ([{platform, v, eff, src, pos}]), a new reference; NULL with errstr
 * set (CPS_ERR_INVALID's reason, or out of memory). */
json_t *cps_tstate_candidates_json(const struct cps_tstate *st, uint32_t f, char *errstr,
                                   size_t errstr_size);

#endif
