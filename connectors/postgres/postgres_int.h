/*
 * Private to the postgres connector: the two sides, each a partial table of
 * its own file, which postgres.c merges into the "postgres" connector.
 */
#ifndef CPS_POSTGRES_INT_H
#define CPS_POSTGRES_INT_H

#include "connectors/connector.h"

#include <stdint.h>

/* postgres_sink.c: type, sink settings and sink slots only (not registrable
 * alone: it has no source side and the source's settings are missing). */
extern const struct cps_connector_ops cps_postgres_sink_side;

/* Statements a postgres sink prepared since it opened (one per statement
 * shape and connection); 0 for any other connection. */
uint64_t cps_postgres_sink_prepared(const struct cps_conn *c);

#endif
