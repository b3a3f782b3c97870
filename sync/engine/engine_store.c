/*
 * The engine's store stage: the store's migrations applied once at start-up
 * on a connection of their own, its schema version logged (the conninfo
 * masked), and the links operators paused (cpsync.paused_links), which the
 * later stages start PAUSED.
 */
#include "engine/engine_int.h"
#include "base/log.h"
#include "base/pii.h"
#include "store/store.h"
#include "store/store_deadletters.h"

#include <string.h>

/* The paused links into e->paused_links. */
static int load_paused_links(struct cps_engine *e, char *err, size_t err_size)
{
	struct cps_dlq_store *s = NULL;
	int rc = cps_dlq_store_open(e->conninfo, &s, err, err_size);

	if (rc == CPS_OK)
		rc = cps_dlq_paused_links(s, &e->paused_links, err, err_size);
	cps_dlq_store_close(s);
	return rc;
}

bool cps_engine_link_paused(const struct cps_engine *e, const char *link)
{
	const json_t *v;
	size_t i;

	json_array_foreach (e->paused_links, i, v)
		if (!strcmp(json_string_value(v), link)) {
			cps_log_info("ENGINE", "link '%s' starts PAUSED: an operator paused it",
			             link);
			return true;
		}
	return false;
}

struct cps_link *cps_engine_add_link(struct cps_engine *e, const char *name, const char *platform,
                                     const char *type, enum cps_link_direction dir, bool *paused)
{
	struct cps_link *l = cps_status_add_link(e->status, name, platform, type, dir);

	*paused = cps_engine_link_paused(e, name);
	if (l && *paused) /* PAUSED from the first /status on, never STARTING */
		cps_link_set_state(l, CPS_LINK_PAUSED);
	return l;
}

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
	if (rc == CPS_OK)
		rc = load_paused_links(e, err, sizeof(err));
	if (rc != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "store '%s': %s", masked, err);
	cps_log_info("STORE", "store '%s' at schema version %d", masked, applied);
	return CPS_OK;
}
