/* The log settings of a loaded configuration (log.level, log.format,
 * log.debug), applied to the logger: here rather than in base/log.c so the
 * logger stays below the configuration. */
#include "config/log_config.h"

#include "base/common.h"
#include "base/log.h"

#include <string.h>

int cps_log_configure(const struct cps_config *cfg, char *errstr, size_t errstr_size)
{
	const struct cps_config_node *dbg;
	const char *s;
	unsigned mask = 0;
	int level;

	s = cps_config_get_string(cfg, "log.level");
	level = cps_log_level_parse(s);
	if (level < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "log.level: unknown level");
	s = cps_config_get_string(cfg, "log.format");
	if (s && !strcmp(s, "json"))
		cps_log_set_format(CPS_LOG_JSON);
	else if (!s || !strcmp(s, "text"))
		cps_log_set_format(CPS_LOG_TEXT);
	else
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "log.format: unknown format");
	dbg = cps_config_get_list(cfg, "log.debug");
	for (size_t i = 0; dbg && i < dbg->count; i++) {
		unsigned bit = cps_log_ctx_parse(dbg->children[i]->value);
		if (!bit)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "log.debug: unknown context");
		mask |= bit;
	}
	cps_log_set_level_debug((enum cps_log_level)level, mask);
	return CPS_OK;
}
