/*
 * The engine's schema stage: the schema catalog loaded from schemas.dir (or
 * the --schemas override) and the schema registry client (schemas.registry.*,
 * empty credentials meaning none).
 */
#include "engine/engine_int.h"
#include "base/log.h"
#include "codec/registry.h"
#include "codec/schema.h"

int cps_engine_load_schemas(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                            size_t errstr_size)
{
	const char *dir = opts && opts->schema_dir ? opts->schema_dir
	                                           : cps_config_get_string(e->cfg, "schemas.dir");
	struct cps_registry_conf rc = {
	    .url = cps_config_get_string(e->cfg, "schemas.registry.url"),
	    .timeout_ms = (long)cps_config_get_int(e->cfg, "schemas.registry.timeout_ms"),
	    .username = cps_config_get_string(e->cfg, "schemas.registry.username"),
	    .password = cps_config_get_string(e->cfg, "schemas.registry.password"),
	    .ca_file = cps_config_get_string(e->cfg, "schemas.registry.ca_file"),
	    .lookup_only = !cps_config_get_bool(e->cfg, "schemas.registry.auto_register"),
	};
	char err[CPS_ERRSTR_SIZE];
	int r;

	if (rc.username && !rc.username[0])
		rc.username = NULL;
	if (rc.password && !rc.password[0])
		rc.password = NULL;
	if (rc.ca_file && !rc.ca_file[0])
		rc.ca_file = NULL;
	r = cps_catalog_load_dir(dir, &e->catalog, err, sizeof(err));
	if (r != CPS_OK)
		return cps_seterr(r, errstr, errstr_size, "schemas '%s': %s", dir, err);
	cps_log_info("SCHEMA", "loaded %zu schemas from '%s'", cps_catalog_count(e->catalog), dir);
	r = cps_registry_new(&rc, e->catalog, &e->registry, err, sizeof(err));
	if (r != CPS_OK)
		return cps_seterr(r, errstr, errstr_size, "schema registry: %s", err);
	return CPS_OK;
}
