/*
 * Logging: levels error/warn/info/debug, a facility tag per subsystem
 * ("STORE", "KAFKA"), named debug contexts, text or JSON lines. The macros
 * evaluate and format nothing below the configured level (Redis serverLog).
 * Thread-safe: each line is formatted on the stack and written with one
 * write(2). Callers mask personal data (pii.h) before it reaches a message.
 */
#ifndef CPS_LOG_H
#define CPS_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum cps_log_level {
	CPS_LOG_ERROR = 0,
	CPS_LOG_WARN = 1,
	CPS_LOG_INFO = 2,
	CPS_LOG_DEBUG = 3,
};

enum cps_log_format {
	CPS_LOG_TEXT = 0, /* 2026-11-28T20:16:52.123Z info  STORE committed batch */
	CPS_LOG_JSON = 1, /* {"ts":"…","level":"info","facility":"STORE","msg":"…"} */
};

/* Named debug contexts (config key log.debug). */
enum cps_log_ctx {
	CPS_DBG_CONNECTOR = 1u << 0,
	CPS_DBG_RECONCILE = 1u << 1,
	CPS_DBG_STORE = 1u << 2,
	CPS_DBG_HTTP = 1u << 3,
	CPS_DBG_KAFKA = 1u << 4,
	CPS_DBG_CODEC = 1u << 5,
	CPS_DBG_ALL = (1u << 6) - 1,
};

/* Internal state read by the macros; set only through the functions below. */
extern atomic_int cps_log_threshold_;
extern atomic_uint cps_log_debug_mask_;

#define cps_log_enabled(level)                                                                     \
	((int)(level) <= atomic_load_explicit(&cps_log_threshold_, memory_order_relaxed))
#define cps_log_debug_enabled(ctx)                                                                 \
	((atomic_load_explicit(&cps_log_debug_mask_, memory_order_relaxed) & (unsigned)(ctx)) != 0)

/* The arguments are not evaluated when the level is disabled. */
#define CPS_LOG(level, facility, ...)                                                              \
	do {                                                                                       \
		if (cps_log_enabled(level))                                                        \
			cps_log_write((level), (facility), __VA_ARGS__);                           \
	} while (0)

#define cps_log_error(facility, ...) CPS_LOG(CPS_LOG_ERROR, facility, __VA_ARGS__)
#define cps_log_warn(facility, ...)  CPS_LOG(CPS_LOG_WARN, facility, __VA_ARGS__)
#define cps_log_info(facility, ...)  CPS_LOG(CPS_LOG_INFO, facility, __VA_ARGS__)

/* A debug line of one context: written when that context is enabled (by
 * log.debug, or every context when log.level is debug and log.debug is
 * empty). Arguments are not evaluated otherwise. */
#define cps_log_debug(ctx, facility, ...)                                                          \
	do {                                                                                       \
		if (cps_log_debug_enabled(ctx))                                                    \
			cps_log_write(CPS_LOG_DEBUG, (facility), __VA_ARGS__);                     \
	} while (0)

/* Formats and writes one line now, whatever the level (the macros gate).
 * Newlines and control characters in the message are replaced by spaces
 * in text format and escaped in JSON; lines longer than 4 KiB are cut. */
void cps_log_write(enum cps_log_level level, const char *facility, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void cps_log_set_level(enum cps_log_level level);
enum cps_log_level cps_log_get_level(void);
void cps_log_set_format(enum cps_log_format format);
/* Enabled debug contexts (a mask of enum cps_log_ctx). */
void cps_log_set_debug(unsigned ctx_mask);
/* Level and named debug contexts together, as one change (PUT /api/v1/log,
 * SIGHUP): concurrent callers are serialised, so the pair stays consistent;
 * the logging threads never wait. @locality any thread */
void cps_log_set_level_debug(enum cps_log_level level, unsigned ctx_mask);
/* The debug contexts named by log.debug or a change (not those that level
 * debug alone turns on). */
unsigned cps_log_get_debug(void);
/* Where lines go: stderr (2) by default. The caller keeps ownership of fd. */
void cps_log_set_fd(int fd);

/* "error"|"warn"|"info"|"debug" -> level; -1 when unknown. */
int cps_log_level_parse(const char *name);
const char *cps_log_level_name(enum cps_log_level level);
/* A context name ("store", "all") -> its bit; 0 when unknown. */
unsigned cps_log_ctx_parse(const char *name);
/* The name of one context bit ("store"); NULL when `bit` is not exactly one. */
const char *cps_log_ctx_name(unsigned bit);

#endif
