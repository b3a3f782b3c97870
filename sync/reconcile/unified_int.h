/*
 * Private to the unified event's encoders (unified.c, unified_encode.c).
 */
#ifndef CPS_UNIFIED_INT_H
#define CPS_UNIFIED_INT_H

#include "reconcile/unified.h"
#include "reconcile/typed_reconcile.h"
#include "codec/record.h"
#include "base/buf.h"

#include <stdbool.h>
#include <stdint.h>

/* What one unified event is made of: a JSON state (st, o) or a typed one
 * (ts, to). */
struct cps_unified_source {
	const struct cps_key_state *st;
	const struct cps_reconcile_outcome *o; /* NULL: from the stored state alone */
	const char *entity_symbol;             /* "PERSON" */
	bool deleted;
	int64_t event_time_ms;
	const struct cps_tstate *ts; /* instead of st */
	const struct cps_toutcome *to;
};

/* Appends the event's Avro binary (no framing) on the compiled event type
 * `event`: the bytes cps_record_encode_json gives for cps_unified_event_json.
 * CPS_ERR_FATAL when the state does not fit the schema (a reconciler bug) or
 * the schema has a field this encoder does not know. */
int cps_unified_encode_direct(const struct cps_rtype *event, const struct cps_unified_source *src,
                              struct cps_buf *out, char *errstr, size_t errstr_size);

#endif
