/*
 * Log lines (see log.h): formatted on the stack, one write(2) each, so
 * lines from several threads never interleave. Level, format, debug mask
 * and target fd are atomics: reconfiguring is safe while others log.
 */
#include "base/log.h"

#include "base/common.h"
#include "base/pii.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

atomic_int cps_log_threshold_ = CPS_LOG_INFO;
atomic_uint cps_log_debug_mask_ = 0;
static atomic_int log_format = CPS_LOG_TEXT;
static atomic_int log_fd = 2;
/* the contexts asked for by name; all of them are on when level is debug
 * and none was named */
static atomic_uint named_debug = 0;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static const struct {
	const char *name;
	unsigned bit;
} ctx_names[] = {
    {"connector", CPS_DBG_CONNECTOR},
    {"reconcile", CPS_DBG_RECONCILE},
    {"store", CPS_DBG_STORE},
    {"http", CPS_DBG_HTTP},
    {"kafka", CPS_DBG_KAFKA},
    {"codec", CPS_DBG_CODEC},
    {"all", CPS_DBG_ALL},
};

static void update_debug_mask(void)
{
	unsigned named = atomic_load(&named_debug);

	if (!named && atomic_load(&cps_log_threshold_) >= CPS_LOG_DEBUG)
		named = CPS_DBG_ALL;
	atomic_store(&cps_log_debug_mask_, named);
}

void cps_log_set_level(enum cps_log_level level)
{
	if ((int)level < CPS_LOG_ERROR)
		level = CPS_LOG_ERROR;
	if (level > CPS_LOG_DEBUG)
		level = CPS_LOG_DEBUG;
	atomic_store(&cps_log_threshold_, (int)level);
	update_debug_mask();
}

enum cps_log_level cps_log_get_level(void)
{
	return (enum cps_log_level)atomic_load(&cps_log_threshold_);
}

void cps_log_set_format(enum cps_log_format format)
{
	atomic_store(&log_format, (int)format);
}

void cps_log_set_debug(unsigned ctx_mask)
{
	atomic_store(&named_debug, ctx_mask & CPS_DBG_ALL);
	update_debug_mask();
}

void cps_log_set_level_debug(enum cps_log_level level, unsigned ctx_mask)
{
	static pthread_mutex_t writers = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&writers);
	atomic_store(&named_debug, ctx_mask & CPS_DBG_ALL);
	cps_log_set_level(level);
	pthread_mutex_unlock(&writers);
}

unsigned cps_log_get_debug(void)
{
	return atomic_load(&named_debug);
}

void cps_log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

int cps_log_level_parse(const char *name)
{
	for (size_t i = 0; name && i < CPS_ARRAY_SIZE(level_names); i++)
		if (!strcmp(name, level_names[i]))
			return (int)i;
	return -1;
}

const char *cps_log_level_name(enum cps_log_level level)
{
	if ((int)level < 0 || (size_t)level >= CPS_ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

unsigned cps_log_ctx_parse(const char *name)
{
	for (size_t i = 0; name && i < CPS_ARRAY_SIZE(ctx_names); i++)
		if (!strcmp(name, ctx_names[i].name))
			return ctx_names[i].bit;
	return 0;
}

const char *cps_log_ctx_name(unsigned bit)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(ctx_names); i++)
		if (ctx_names[i].bit == bit && bit != CPS_DBG_ALL)
			return ctx_names[i].name;
	return NULL;
}

/* Appends to a fixed line buffer, silently cutting at the end. */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void line_add(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len; /* keep one byte for '\n' */

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void line_str(struct line *l, const char *s)
{
	line_add(l, s, strlen(s));
}

/* JSON string contents (without quotes), escaping what RFC 8259 requires. */
static void line_json(struct line *l, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			line_add(l, esc, 2);
		} else if (*p == '\n') {
			line_str(l, "\\n");
		} else if (*p == '\t') {
			line_str(l, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			line_str(l, esc);
		} else {
			line_add(l, (const char *)p, 1);
		}
	}
}

/* Text: control characters become spaces so that one entry is one line. */
/* The start of a JSON line, up to the facility's escaped text (its closing
 * quote is the caller's): {"ts":"…","level":"…","facility":"…  */
static void line_json_head(struct line *l, const char *ts, enum cps_log_level level,
                           const char *facility)
{
	line_str(l, "{\"ts\":\"");
	line_str(l, ts);
	line_str(l, "\",\"level\":\"");
	line_str(l, cps_log_level_name(level));
	line_str(l, "\",\"facility\":\"");
	line_json(l, facility);
}

static void line_text(struct line *l, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char c = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
		line_add(l, &c, 1);
	}
}

/* A UTF-8 sequence cut by truncation would make invalid JSON text: drop
 * the incomplete tail. */
static void cut_utf8_tail(char *s)
{
	size_t n = strlen(s), i = n, cont = 0;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && cont < 3) {
		i--;
		cont++;
	}
	if (i > 0 && (unsigned char)s[i - 1] >= 0xc0) {
		unsigned char lead = (unsigned char)s[i - 1];
		size_t need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
		if (cont < need)
			s[i - 1] = 0;
	}
}

void cps_log_write(enum cps_log_level level, const char *facility, const char *fmt, ...)
{
	char msg[LINE_MAX_BYTES - 128], ts[40];
	struct timespec now;
	struct tm tm;
	struct line l;
	va_list ap;
	int saved_errno = errno;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable log message)");
	else if ((size_t)n >= sizeof(msg))
		cut_utf8_tail(msg);
	/* a last net: an ID that reached a message by a path nobody masked (a
	 * file name, a key in a foreign error text) is never written whole */
	cps_mask_national_ids_in(msg);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         now.tv_nsec / 1000000);
	if (!facility)
		facility = "-";

	l.len = 0;
	if (atomic_load(&log_format) == CPS_LOG_JSON) {
		line_json_head(&l, ts, level, facility);
		line_str(&l, "\",\"msg\":\"");
		line_json(&l, msg);
		/* a cut escape sequence would break the JSON: the message is at
		 * most LINE_MAX_BYTES-128 and escapes at most 6x, so check */
		if (l.len > sizeof(l.buf) - 4) {
			l.len = 0;
			line_json_head(&l, ts, level, facility);
			line_str(&l, "\",\"msg\":\"(message too long to log)");
		}
		line_str(&l, "\"}");
	} else {
		char lv[8];

		snprintf(lv, sizeof(lv), "%-5s ", cps_log_level_name(level));
		line_str(&l, ts);
		line_str(&l, " ");
		line_str(&l, lv);
		line_text(&l, facility);
		line_str(&l, " ");
		line_text(&l, msg);
	}
	l.buf[l.len++] = '\n';

	/* one write per line; a short write on a pipe only happens past
	 * PIPE_BUF, and then the rest follows at once */
	for (size_t off = 0; off < l.len;) {
		ssize_t w = write(atomic_load(&log_fd), l.buf + off, l.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved_errno;
}
