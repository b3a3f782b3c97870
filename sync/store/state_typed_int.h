/*
 * Private to sync/store: one value between the layouts' tagged binary JSON
 * and its type's Avro binary (state_typed_values.c), for the typed state's
 * codec (state_typed.c).
 */
#ifndef CPS_STATE_TYPED_INT_H
#define CPS_STATE_TYPED_INT_H

#include "store/state_typed.h"
#include "store/tagged.h"

#include "base/common.h"

#include <stdbool.h>

/* The tagged value at r, of type t, appended to out as Avro binary; -1
 * with r->err set when it does not read or is not of type t. */
int cps_tagged_to_avro(struct cps_tag_reader *r, const struct cps_rtype *t, struct cps_buf *out);
/* Value v (Avro binary of type t) appended to out as a tagged value; -1
 * when its bytes do not read, or memory or out's limit runs out. */
int cps_avro_to_tagged(struct cps_tbytes v, const struct cps_rtype *t, struct cps_buf *out);
/* The same appended as jsonb text (jsonb.c's escaping). */
int cps_avro_to_jsonb(struct cps_tbytes v, const struct cps_rtype *t, struct cps_buf *out);

#endif
