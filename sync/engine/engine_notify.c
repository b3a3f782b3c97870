/*
 * The engine's messages to systemd (Type=notify, sd_notify(3)): READY=1 with
 * a STATUS= line once start-up is done, WATCHDOG=1 from the engine's own
 * loop (cps_engine_wait) at half of WATCHDOG_USEC, STOPPING=1 on shutdown.
 * Without $NOTIFY_SOCKET (not under systemd) every call does nothing.
 */
#include "engine/engine_int.h"
#include "base/log.h"

#include <systemd/sd-daemon.h>
#include <time.h>

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void cps_engine_notify_ready(struct cps_engine *e)
{
	uint64_t usec = 0;
	int rc;

	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		e->watchdog_usec = usec;
	rc =
	    sd_notifyf(0, "READY=1\nSTATUS=running: instance '%s', %zu links",
	               cps_config_get_string(e->cfg, "instance"), cps_status_link_count(e->status));
	if (rc < 0)
		cps_log_warn("ENGINE", "systemd notification READY=1 failed: error %d", -rc);
	else if (rc > 0)
		cps_log_info("ENGINE", "told systemd READY=1%s",
		             e->watchdog_usec ? ", watchdog on" : "");
	e->watchdog_last_usec = now_usec();
}

void cps_engine_notify_watchdog(struct cps_engine *e)
{
	uint64_t now;

	if (!e->watchdog_usec)
		return;
	now = now_usec();
	if (now - e->watchdog_last_usec < e->watchdog_usec / 2)
		return;
	e->watchdog_last_usec = now;
	sd_notify(0, "WATCHDOG=1");
}

void cps_engine_notify_stopping(struct cps_engine *e)
{
	(void)e;
	sd_notify(0, "STOPPING=1");
}
