/*
 * Private to record_*.c and guard.c: the field path of a position in a typed value, as
 * the guard prints it (".members[3].name", map entries "{i}" and "{i}<key>"
 * by position, never by key), and the guard's nesting cap.
 */
#ifndef CPS_RECORD_INT_H
#define CPS_RECORD_INT_H

#include "codec/record.h"

#include <stddef.h>
#include <stdint.h>

/* Nesting cap whatever the limits say (the guard's GUARD_DEPTH_CAP): bounds
 * the C stack. */
#define CPS_RECORD_DEPTH_CAP 512

enum cps_rseg_kind {
	CPS_RSEG_FIELD, /* record field: type = record, index = field */
	CPS_RSEG_ITEM,  /* array item */
	CPS_RSEG_VALUE, /* map value of entry `index` */
	CPS_RSEG_KEY,   /* map key of entry `index` */
};

struct cps_rseg {
	const struct cps_rtype *type;
	uint64_t index;
	enum cps_rseg_kind kind;
};

/* Appends one step of a path at out[*used] ("name" is a field's name, for
 * CPS_RSEG_FIELD); returns 0, or -1 when snprintf fails. The guard's path
 * over Avro C schemas is printed with it too. */
int cps_rpath_append(char *out, size_t size, size_t *used, enum cps_rseg_kind kind,
                     const char *name, uint64_t index);

/* Ends a path that filled out: "..." at its end. */
void cps_rpath_truncated(char *out, size_t size, size_t used);

/* Formats path[0..n) into out (truncated with "..."). */
void cps_rpath_format(const struct cps_rseg *path, unsigned n, char *out, size_t size);

/* Where an encoder is in a value, and where its refusal goes. */
struct cps_rplace {
	char *errstr;
	size_t errstr_size;
	unsigned nseg;
	struct cps_rseg path[CPS_RECORD_DEPTH_CAP + 1];
};

/* The encoders' refusal: "cannot encode: <what> (<path>)" into errstr (a
 * value, not bytes, is at fault); returns CPS_ERR_INVALID. */
int cps_rplace_refuse(struct cps_rplace *at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), cold));

/* Whether a datum of `t` can be encoded in zero bytes (the guard's rule,
 * looking `depth` levels into records). */
int cps_rtype_can_be_empty(const struct cps_rtype *t, unsigned depth);

#endif
