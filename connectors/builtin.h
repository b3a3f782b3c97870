/*
 * The tables of the connectors compiled into cpsync, for builtin.c (which
 * registers them: cps_connector_register_builtins in connector.h), for the
 * connectors that define them and for tests that open one directly. The
 * registry (connector.c) knows none of them.
 */
#ifndef CPS_CONNECTOR_BUILTIN_H
#define CPS_CONNECTOR_BUILTIN_H

#include "connectors/connector.h"

/* connectors/kafka/kafka.c */
extern const struct cps_connector_ops cps_kafka_connector;
/* connectors/files/files.c */
extern const struct cps_connector_ops cps_files_connector;
/* connectors/postgres/postgres_source.c: the source side only */
extern const struct cps_connector_ops cps_postgres_connector;
/* The "postgres" connector as registered (connectors/postgres/postgres.c):
 * the source side plus the sink side, settings merged. Built once. */
const struct cps_connector_ops *cps_postgres_connector_ops(void);

#endif
