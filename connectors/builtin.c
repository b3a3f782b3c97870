/*
 * The connectors compiled into cpsync, registered by type at start-up. The
 * only file that names the concrete connector tables: the registry
 * (connector.c) stays independent of every connector.
 */
#include "connectors/builtin.h"

int cps_connector_register_builtins(char *errstr, size_t errstr_size)
{
	const struct cps_connector_ops *const builtins[] = {
	    &cps_kafka_connector, &cps_files_connector, cps_postgres_connector_ops()};

	for (size_t i = 0; i < CPS_ARRAY_SIZE(builtins); i++) {
		int rc;

		if (cps_connector_find(builtins[i]->type) == builtins[i])
			continue;
		rc = cps_connector_register(builtins[i], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}
