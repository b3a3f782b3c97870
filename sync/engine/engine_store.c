/*
 * The engine's store stage: the store's migrations applied once at start-up
 * on a connection of their own, its schema version logged (the conninfo
 * masked).
 */
#include "engine/engine_int.h"
#include "base/log.h"
#include "base/pii.h"
#include "store/store.h"

int cps_engine_migrate_store(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                             size_t errstr_size)
{
	struct cps_store *s = NULL;
	char masked[512], err[CPS_ERRSTR_SIZE];
	int applied = 0, latest = 0, rc;

	(void)opts;
	cps_mask_conninfo(e->conninfo, masked, sizeof(masked));
	rc = cps_store_open(e->conninfo, &s, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_store_migrate(s, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_store_schema_version(s, &applied, &latest, err, sizeof(err));
	cps_store_close(s);
	if (rc != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "store '%s': %s", masked, err);
	cps_log_info("STORE", "store '%s' at schema version %d", masked, applied);
	return CPS_OK;
}
