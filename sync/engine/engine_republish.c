/*
 * The engine's re-publish stage: POST /api/v1/republish on the HTTP server,
 * with the store, Kafka and the encoder settings of the reconcile workers
 * (so a re-published event is framed as the live one).
 */
#include "engine/engine_int.h"
#include "api/api_republish.h"
#include "config/config.h"

int cps_engine_start_republish_api(struct cps_engine *e, const struct cps_engine_opts *opts,
                                   char *errstr, size_t errstr_size)
{
	struct cps_republish_conf rc = {
	    .conninfo = e->conninfo,
	    .bootstrap = e->bootstrap,
	    .kafka_properties = &e->kafka_props,
	    .catalog = e->catalog,
	    .registry = e->registry,
	    .framing = CPS_FRAMING_CONFLUENT, /* as the reconcile workers */
	    .topic_prefix = cps_config_get_string(e->cfg, "kafka.unified_topic_prefix"),
	    .batch = (size_t)cps_config_get_int(e->cfg, "store.batch_size"),
	};
	int r;

	(void)opts;
	r = cps_republish_api_new(&rc, &e->republish_api, errstr, errstr_size);
	if (r == CPS_OK)
		r = cps_republish_api_register(e->republish_api, e->http, errstr, errstr_size);
	return r;
}
