/*
 * The "postgres" connector as registered: the source side
 * (postgres_source.c, cps_postgres_connector) and the sink side
 * (postgres_sink.c) in one table, with both settings tables merged (a
 * setting both declare is taken once, the source's). Built once.
 */
#include "connectors/builtin.h"
#include "connectors/postgres/postgres_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct cps_connector_ops combined;
static struct cps_setting_decl *combined_settings;
static pthread_once_t combined_once = PTHREAD_ONCE_INIT;

static void combine(void)
{
	const struct cps_connector_ops *src = &cps_postgres_connector;
	const struct cps_connector_ops *sink = &cps_postgres_sink_side;
	size_t n = src->n_settings + sink->n_settings, m = 0;

	combined = *src;
	combined_settings = calloc(n, sizeof(*combined_settings));
	if (!combined_settings)
		return;
	for (size_t i = 0; i < src->n_settings; i++)
		combined_settings[m++] = src->settings[i];
	for (size_t i = 0; i < sink->n_settings; i++) {
		bool dup = false;

		for (size_t j = 0; j < src->n_settings; j++)
			if (!strcmp(src->settings[j].name, sink->settings[i].name))
				dup = true;
		if (!dup)
			combined_settings[m++] = sink->settings[i];
	}
	combined.settings = combined_settings;
	combined.n_settings = m;
	combined.sink_open = sink->sink_open;
	combined.sink_put = sink->sink_put;
	combined.sink_flush = sink->sink_flush;
	combined.sink_close = sink->sink_close;
	combined.sink_describe = sink->sink_describe;
}

const struct cps_connector_ops *cps_postgres_connector_ops(void)
{
	pthread_once(&combined_once, combine);
	return combined_settings ? &combined : &cps_postgres_connector;
}
