/* Applying a configuration's log settings to the logger (base/log.h). */
#ifndef CPS_LOG_CONFIG_H
#define CPS_LOG_CONFIG_H

#include "config/config.h"

#include <stddef.h>

/* Applies log.level, log.format and log.debug from a loaded configuration.
 * The configuration was validated at load, so this fails only on a config
 * that did not come from cps_config_load. */
int cps_log_configure(const struct cps_config *cfg, char *errstr, size_t errstr_size);

#endif
