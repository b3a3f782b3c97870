/*
 * The members of a change's record as the postgres sink binds them: read
 * straight from the record's JSON text, without building a tree. Names and
 * string values come unescaped; numbers, true/false and nested arrays and
 * objects as jansson prints what it loads from them (compact); null as
 * NULL. The texts are those the sink bound when it loaded the record with
 * jansson.
 */
#ifndef CPS_PG_SINK_RECORD_H
#define CPS_PG_SINK_RECORD_H

#include <stddef.h>

struct pg_sink_member {
	const char *name;
	const char *value; /* NULL: JSON null */
};

struct pg_sink_record {
	struct pg_sink_member *m; /* in the text's order; a repeated name keeps its first
	                           * place and takes the last value, as jansson does */
	size_t n;
	char *text;   /* the unescaped names and values, one allocation */
	char **apart; /* the texts of reals, arrays and objects */
	size_t n_apart;
};

enum { PG_SINK_RECORD_OK = 0, PG_SINK_RECORD_INVALID = -1, PG_SINK_RECORD_OOM = -2 };

/* Reads json[0..len), which must be one JSON object and nothing else, into
 * *r (released by pg_sink_record_release whatever the outcome). INVALID for
 * anything jansson would refuse to load (bad syntax, invalid UTF-8, a
 * \u0000, a lone surrogate, text after the object). */
int pg_sink_record_read(const char *json, size_t len, struct pg_sink_record *r);
void pg_sink_record_release(struct pg_sink_record *r);

#endif
