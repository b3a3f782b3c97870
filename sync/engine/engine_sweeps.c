/*
 * The engine's sweep stage: the sweeper (sweep/sweep.h) over every running
 * source whose connector can read its platform's full data, on the
 * schedule of sweeps.schedule, and its routes (/api/v1/sweeps).
 */
#include "engine/engine_int.h"
#include "api/api_sweeps.h"
#include "base/log.h"
#include "sweep/sweep.h"

#include <stdlib.h>

int cps_engine_start_sweeps(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                            size_t errstr_size)
{
	struct cps_sweep_platform *ps = calloc(e->n_sources + 1, sizeof(*ps));
	struct cps_sweeper_conf sc = {
	    .conninfo = e->conninfo,
	    .catalog = e->catalog,
	    .registry = e->registry,
	    .schedule_ms = cps_config_get_int(e->cfg, "sweeps.schedule"),
	    .chunk_rows = (size_t)cps_config_get_int(e->cfg, "sweeps.chunk_rows"),
	    .instance = cps_config_get_string(e->cfg, "instance"),
	    .status = e->status,
	};
	int rc;

	(void)opts;
	if (!ps)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < e->n_sources; i++) {
		struct engine_source *s = &e->sources[i];

		if (s->runner && s->ops && s->ops->sweep_read)
			ps[sc.n_platforms++] = (struct cps_sweep_platform){
			    s->platform, s->ops, &s->settings, s->framing};
	}
	sc.platforms = ps;
	rc = cps_sweeper_start(&sc, &e->sweeper, errstr, errstr_size);
	free(ps);
	if (rc == CPS_OK)
		rc = cps_sweeps_api_new(e->sweeper, e->conninfo, e->catalog, sc.schedule_ms,
		                        &e->sweeps_api, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_sweeps_api_register(e->sweeps_api, e->http, errstr, errstr_size);
	if (rc == CPS_OK)
		cps_log_info("ENGINE", "sweeps: %zu platforms, %s", sc.n_platforms,
		             sc.schedule_ms > 0 ? "on schedule and on demand" : "on demand only");
	return rc;
}
