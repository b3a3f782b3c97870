/*
 * GET /metrics: the Prometheus text exposition (format 0.0.4) built from the
 * /status document (links, platforms, conflicts, store), the process-wide
 * latency histograms and the HTTP server's per-route stats; and the 1 Hz
 * sampler thread that feeds each link's throughput ring (status.c).
 */
#include "observe/metrics.h"

#include "base/clock.h"
#include "base/common.h"
#include "config/config.h"
#include "http/http.h"
#include "base/log.h"
#include "observe/status.h"
#include "observe/status_http.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_BYTES    ((size_t)8 << 20)
#define DEFAULT_GROUP        "cpsync-reconcile"

/* ---- the text format ----------------------------------------------------- */

struct fmt {
	struct cps_buf *out;
	int failed;
};

static void put(struct fmt *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct fmt *f, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || cps_buf_append(f->out, line, (size_t)n) != 0)
		f->failed = 1;
}

static void family(struct fmt *f, const char *name, const char *type, const char *help)
{
	put(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, cut to fit `size`. */
static const char *esc(const char *v, char *buf, size_t size)
{
	size_t o = 0;

	for (; v && *v && o + 3 < size; v++) {
		if (*v == '\\' || *v == '"') {
			buf[o++] = '\\';
			buf[o++] = *v;
		} else if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* A sample value: integers as such, others with enough digits. */
static void put_value(struct fmt *f, double v)
{
	if (v > -9e15 && v < 9e15 && v == (double)(long long)v)
		put(f, "%.0f\n", v);
	else
		put(f, "%.6f\n", v);
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

static double num(const json_t *obj, const char *key)
{
	return json_number_value(json_object_get(obj, key));
}

/* `{link="…",platform="…",direction="…"}` of a link. */
static void link_labels(const json_t *l, char *out, size_t size)
{
	char a[160], b[80], c[32];

	snprintf(out, size, "{link=\"%s\",platform=\"%s\",direction=\"%s\"}",
	         esc(str(l, "name"), a, sizeof(a)), esc(str(l, "platform"), b, sizeof(b)),
	         esc(str(l, "direction"), c, sizeof(c)));
}

/* Milliseconds since the epoch of "2026-11-28T20:16:52.123Z", 0 if not one. */
static int64_t iso8601_ms(const char *text)
{
	struct tm tm = {0};
	int ms = 0;

	if (!text || sscanf(text, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

enum link_figure {
	LF_RECORDS,
	LF_ERRORS,
	LF_DEAD,
	LF_LAG,
	LF_IGNORED,
	LF_UP,
	LF_STANDBY,
	LF_LAST_SUCCESS
};

static const struct {
	const char *name, *type, *help;
	const char *field; /* the /status link member a counter or an optional gauge shows */
} link_families[] = {
    [LF_RECORDS] = {"cpsync_link_records_total", "counter",
                    "Records accepted (source) or delivered (sink) by the link.", "records"},
    [LF_ERRORS] = {"cpsync_link_errors_total", "counter", "Errors of the link.", "errors"},
    [LF_DEAD] = {"cpsync_link_dead_letters_total", "counter",
                 "Messages of the link set aside as dead letters.", "dead_letters"},
    [LF_LAG] = {"cpsync_link_lag", "gauge", "Messages the link is behind (when known).", "lag"},
    [LF_IGNORED] =
        {"cpsync_link_ignored_files", "gauge",
         "Entries a source will never read (files: dot files, stale *.tmp, over-long names, folders in its inbox).",
         "ignored_files"},
    [LF_UP] = {"cpsync_link_up", "gauge", "1 when the link is RUNNING, else 0."},
    [LF_STANDBY] =
        {"cpsync_link_standby", "gauge",
         "1 when the link is STANDBY (a single-reader source another instance holds), else 0."},
    [LF_LAST_SUCCESS] = {"cpsync_link_last_success_timestamp_seconds", "gauge",
                         "Unix time of the link's last successful batch."},
};

static void format_links(struct fmt *f, const json_t *links)
{
	char labels[320];
	const json_t *l;
	size_t i;

	for (size_t k = 0; k < CPS_ARRAY_SIZE(link_families); k++) {
		family(f, link_families[k].name, link_families[k].type, link_families[k].help);
		json_array_foreach (links, i, l) {
			const json_t *v;
			double value;

			link_labels(l, labels, sizeof(labels));
			switch ((enum link_figure)k) {
			case LF_RECORDS:
			case LF_ERRORS:
			case LF_DEAD:
				value = num(l, link_families[k].field);
				break;
			case LF_IGNORED:
			case LF_LAG: /* no sample where the link does not know it */
				v = json_object_get(l, link_families[k].field);
				if (!json_is_integer(v))
					continue;
				value = (double)json_integer_value(v);
				break;
			case LF_UP:
				value = !strcmp(str(l, "state"), "RUNNING");
				break;
			case LF_STANDBY:
				value = !strcmp(str(l, "state"), "STANDBY");
				break;
			case LF_LAST_SUCCESS: {
				int64_t ms = iso8601_ms(
				    json_string_value(json_object_get(l, "last_success")));

				if (ms <= 0)
					continue;
				value = (double)ms / 1000.0;
				break;
			}
			default:
				continue;
			}
			put(f, "%s%s ", link_families[k].name, labels);
			put_value(f, value);
		}
	}
}

/* cpsync_retention_purged_total: rows retention purged since start, by kind. */
static void format_retention(struct fmt *f, const json_t *retention)
{
	const json_t *n;
	const char *what;

	family(
	    f, "cpsync_retention_purged_total", "counter",
	    "Rows the store's retention purged since start: what history (change-log versions), dead_letter_raw (raw bytes dropped), dead_letters, conflicts (closed ones), audit_values (before/after dropped; the entry stays).");
	json_object_foreach ((json_t *)retention, what, n) {
		put(f, "cpsync_retention_purged_total{what=\"%s\"} ", what);
		put_value(f, (double)json_integer_value(n));
	}
}

/* cpsync_sink_dropped_total: each sink link's records not sent, by reason. */
static void format_sink_drops(struct fmt *f, const json_t *links)
{
	char a[160], b[80];
	const json_t *l, *n;
	const char *why;
	size_t i;

	family(
	    f, "cpsync_sink_dropped_total", "counter",
	    "Unified records a sink did not send: reason echo (the change came from its own platform), not_allowed (a required field outside its allow-list), undecodable (dead-lettered), refused (by its platform or not encodable, dead-lettered after the retries), superseded (a version of the key it already wrote, or older).");
	json_array_foreach (links, i, l) {
		json_object_foreach ((json_t *)json_object_get(l, "dropped"), why, n) {
			put(f,
			    "cpsync_sink_dropped_total{link=\"%s\",platform=\"%s\",reason=\"%s\"} ",
			    esc(str(l, "name"), a, sizeof(a)),
			    esc(str(l, "platform"), b, sizeof(b)), why);
			put_value(f, (double)json_integer_value(n));
		}
	}
}

/* Gauge family `name`: the integer `key` of each platform that has one. */
static void platform_gauge(struct fmt *f, const json_t *platforms, const char *name,
                           const char *help, const char *key)
{
	char label[80];
	const json_t *p;
	size_t i;

	family(f, name, "gauge", help);
	json_array_foreach (platforms, i, p) {
		if (!json_is_integer(json_object_get(p, key)))
			continue;
		put(f, "%s{platform=\"%s\"} ", name, esc(str(p, "name"), label, sizeof(label)));
		put_value(f, num(p, key));
	}
}

static void format_platforms(struct fmt *f, const json_t *platforms)
{
	platform_gauge(f, platforms, "cpsync_platform_freshness_seconds",
	               "Age of the newest change applied from the platform.", "freshness_s");
	platform_gauge(f, platforms, "cpsync_platform_freshness_target_seconds",
	               "Freshness target of the platform (platforms.*.freshness_target_s).",
	               "freshness_target_s");
}

static void format_conflicts(struct fmt *f, const json_t *c)
{
	const json_t *closed = json_object_get(c, "closed"), *v;
	const char *how;
	char buf[64];

	family(f, "cpsync_conflicts_open", "gauge", "Conflicts open or claimed.");
	if (json_is_integer(json_object_get(c, "open"))) {
		put(f, "cpsync_conflicts_open ");
		put_value(f, num(c, "open"));
	}
	family(f, "cpsync_conflicts_opened_total", "counter", "Conflicts ever opened.");
	if (json_is_integer(json_object_get(c, "opened_total"))) {
		put(f, "cpsync_conflicts_opened_total ");
		put_value(f, num(c, "opened_total"));
	}
	family(f, "cpsync_conflicts_resolved_total", "counter",
	       "Conflicts closed, by how: auto, resolved (by a steward) or dismissed.");
	json_object_foreach ((json_t *)closed, how, v) {
		put(f, "cpsync_conflicts_resolved_total{how=\"%s\"} ", esc(how, buf, sizeof(buf)));
		put_value(f, (double)json_integer_value(v));
	}
	family(f, "cpsync_conflicts_open_by_entity", "gauge", "Conflicts open, by entity.");
	json_object_foreach ((json_t *)json_object_get(c, "by_entity"), how, v) {
		put(f, "cpsync_conflicts_open_by_entity{entity=\"%s\"} ",
		    esc(how, buf, sizeof(buf)));
		put_value(f, (double)json_integer_value(v));
	}
}

/* Open findings of the policy's checks by check code (a code is one of a
 * fixed list: no personal data in the label). */
static void format_policy(struct fmt *f, const json_t *open)
{
	const char *check;
	json_t *v;
	char buf[64];

	family(f, "cpsync_policy_findings_open", "gauge",
	       "Open findings of the policy's checks (深民〔2021〕80号), by check.");
	json_object_foreach ((json_t *)open, check, v) {
		put(f, "cpsync_policy_findings_open{check=\"%s\"} ", esc(check, buf, sizeof(buf)));
		put_value(f, (double)json_integer_value(v));
	}
}

/* The last sweep's differences by platform and kind (fixed names: no
 * personal data in the labels). */
static void format_sweep(struct fmt *f, const json_t *differences)
{
	char p[64], k[64];
	json_t *d;
	size_t i;

	family(f, "cpsync_sweep_differences", "gauge",
	       "Differences the last three-way sweep found, by platform and kind.");
	json_array_foreach ((json_t *)differences, i, d) {
		put(f, "cpsync_sweep_differences{platform=\"%s\",kind=\"%s\"} ",
		    esc(json_string_value(json_object_get(d, "platform")), p, sizeof(p)),
		    esc(json_string_value(json_object_get(d, "kind")), k, sizeof(k)));
		put_value(f, (double)json_integer_value(json_object_get(d, "count")));
	}
}

static void format_store(struct fmt *f, const json_t *store)
{
	bool ok = json_is_true(json_object_get(store, "ok"));

	family(f, "cpsync_store_up", "gauge", "1 when the store answered the last scrape.");
	put(f, "cpsync_store_up %d\n", ok ? 1 : 0);
	family(f, "cpsync_outbox_pending", "gauge", "Unified events waiting in the outbox.");
	if (ok) {
		put(f, "cpsync_outbox_pending ");
		put_value(f, num(store, "outbox_pending"));
	}
	family(f, "cpsync_dead_letters_pending", "gauge",
	       "Dead letters neither replayed nor discarded.");
	if (ok) {
		put(f, "cpsync_dead_letters_pending ");
		put_value(f, num(store, "dead_letters"));
	}
	family(f, "cpsync_store_records", "gauge", "Unified records in the store.");
	if (ok) {
		put(f, "cpsync_store_records ");
		put_value(f, num(store, "records"));
	}
	format_policy(f, json_object_get(store, "policy_findings_open"));
}

/* A PostgreSQL source reports its slot's lag (bytes of WAL the slot holds
 * behind the server's current position) as its link lag. */
static void format_slot_lag(struct fmt *f, const json_t *links)
{
	char labels[320];
	const json_t *l;
	size_t i;

	family(f, "cpsync_replication_slot_lag_bytes", "gauge",
	       "Bytes of WAL the PostgreSQL source's replication slot is behind.");
	json_array_foreach ((json_t *)links, i, l) {
		const json_t *lag = json_object_get(l, "lag");

		if (strcmp(str(l, "type"), "postgres") || strcmp(str(l, "direction"), "source") ||
		    !json_is_integer(lag) || json_integer_value(lag) < 0)
			continue;
		link_labels(l, labels, sizeof(labels));
		put(f, "cpsync_replication_slot_lag_bytes%s ", labels);
		put_value(f, (double)json_integer_value(lag));
	}
}

/* Consumer lag by group: the reconcile link's group and each Kafka source's
 * "cpsync-source-<platform>" group, summed over their links. */
static void format_consumer_lag(struct fmt *f, const json_t *links, const char *reconcile_group)
{
	json_t *groups = json_object();
	const char *g;
	const json_t *l, *v;
	char name[160], buf[200];
	size_t i;

	family(f, "cpsync_kafka_consumer_lag", "gauge",
	       "Messages the consumer group is behind, summed over its partitions.");
	if (!groups) {
		f->failed = 1;
		return;
	}
	json_array_foreach (links, i, l) {
		json_t *lag = json_object_get(l, "lag");

		if (!json_is_integer(lag) || strcmp(str(l, "direction"), "source") != 0 ||
		    strcmp(str(l, "type"), "kafka") != 0)
			continue;
		if (!strcmp(str(l, "platform"), CPS_STATUS_ENGINE_PLATFORM))
			snprintf(name, sizeof(name), "%s", reconcile_group);
		else
			snprintf(name, sizeof(name), "cpsync-source-%s", str(l, "platform"));
		v = json_object_get(groups, name);
		json_object_set_new(
		    groups, name,
		    json_integer(json_integer_value(lag) + (v ? json_integer_value(v) : 0)));
	}
	json_object_foreach (groups, g, v) {
		put(f, "cpsync_kafka_consumer_lag{group=\"%s\"} ", esc(g, buf, sizeof(buf)));
		put_value(f, (double)json_integer_value(v));
	}
	json_decref(groups);
}

static void format_histogram(struct fmt *f, struct cps_histogram *h)
{
	uint64_t counts[CPS_HISTOGRAM_MAX_BUCKETS];
	double sum;

	cps_histogram_snapshot(h, counts, &sum);
	family(f, h->name, "histogram", h->help);
	for (size_t i = 0; i < h->n_bounds; i++)
		put(f, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->bounds[i],
		    (unsigned long long)counts[i]);
	put(f, "%s_bucket{le=\"+Inf\"} %llu\n", h->name, (unsigned long long)counts[h->n_bounds]);
	put(f, "%s_sum ", h->name);
	put_value(f, sum);
	put(f, "%s_count %llu\n", h->name, (unsigned long long)counts[h->n_bounds]);
}

static void http_requests_cb(void *ctx, const struct cps_http_route_stats *st)
{
	static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	struct fmt *f = ctx;
	char route[256], method[32];

	esc(st->pattern, route, sizeof(route));
	esc(st->method, method, sizeof(method));
	for (int c = 0; c < 5; c++)
		if (st->count[c])
			put(f,
			    "cpsync_http_requests_total{method=\"%s\",route=\"%s\",code_class=\"%s\"} %llu\n",
			    method, route, classes[c], (unsigned long long)st->count[c]);
}

static void http_duration_cb(void *ctx, const struct cps_http_route_stats *st)
{
	struct fmt *f = ctx;
	char labels[320], route[256], method[32];

	if (!st->total)
		return;
	snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\"",
	         esc(st->method, method, sizeof(method)), esc(st->pattern, route, sizeof(route)));
	for (size_t i = 0; i < CPS_HTTP_LATENCY_BUCKETS; i++)
		put(f, "cpsync_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", labels,
		    cps_http_latency_bounds_s[i], (unsigned long long)st->latency_le[i]);
	put(f, "cpsync_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels,
	    (unsigned long long)st->total);
	put(f, "cpsync_http_request_duration_seconds_sum{%s} ", labels);
	put_value(f, st->latency_sum_s);
	put(f, "cpsync_http_request_duration_seconds_count{%s} %llu\n", labels,
	    (unsigned long long)st->total);
}

/* The reconcile workers' key-state cache (/status links[].state_cache). */
static void format_state_cache(struct fmt *f, const json_t *links)
{
	static const struct {
		const char *field, *result;
	} lookups[] = {{"hits", "hit"}, {"stale", "stale"}, {"misses", "miss"}};
	static const struct {
		const char *name, *type, *help, *field;
	} figures[] = {
	    {"cpsync_state_cache_entries", "gauge", "Key states the reconcile workers keep.",
	     "entries"},
	    {"cpsync_state_cache_bytes", "gauge",
	     "Estimated memory of the key states kept (reconcile.state_cache_mb bounds it).",
	     "bytes"},
	    {"cpsync_state_cache_evictions_total", "counter",
	     "Key states dropped to stay within reconcile.state_cache_mb.", "evictions"},
	};
	char labels[320];
	const json_t *l, *c;
	size_t i;

	family(
	    f, "cpsync_state_cache_lookups_total", "counter",
	    "A batch's key states looked up in the reconcile workers' cache: result hit (used as kept), stale (written since by another transaction, so loaded), miss (loaded from the store).");
	json_array_foreach (links, i, l) {
		c = json_object_get(l, "state_cache");
		if (!c)
			continue;
		link_labels(l, labels, sizeof(labels));
		labels[strlen(labels) - 1] = '\0'; /* the result label follows */
		for (size_t k = 0; k < CPS_ARRAY_SIZE(lookups); k++) {
			put(f, "cpsync_state_cache_lookups_total%s,result=\"%s\"} ", labels,
			    lookups[k].result);
			put_value(f, num(c, lookups[k].field));
		}
	}
	for (size_t k = 0; k < CPS_ARRAY_SIZE(figures); k++) {
		family(f, figures[k].name, figures[k].type, figures[k].help);
		json_array_foreach (links, i, l) {
			c = json_object_get(l, "state_cache");
			if (!c)
				continue;
			link_labels(l, labels, sizeof(labels));
			put(f, "%s%s ", figures[k].name, labels);
			put_value(f, num(c, figures[k].field));
		}
	}
}

int cps_metrics_format(struct cps_buf *out, const json_t *status_doc, struct cps_http_server *http,
                       const char *reconcile_group)
{
	struct fmt f = {.out = out};
	const json_t *links = json_object_get(status_doc, "links");
	char version[64];

	family(&f, "cpsync_build_info", "gauge", "Always 1; the labels say which cpsync runs.");
	put(&f, "cpsync_build_info{version=\"%s\"} 1\n",
	    esc(str(status_doc, "version"), version, sizeof(version)));
	family(&f, "cpsync_uptime_seconds", "gauge", "Seconds since this cpsync started.");
	put(&f, "cpsync_uptime_seconds ");
	put_value(&f, num(status_doc, "uptime_s"));
	format_links(&f, links);
	format_sink_drops(&f, links);
	format_state_cache(&f, links);
	format_retention(&f, json_object_get(status_doc, "retention"));
	format_platforms(&f, json_object_get(status_doc, "platforms"));
	format_conflicts(&f, json_object_get(status_doc, "conflicts"));
	format_store(&f, json_object_get(status_doc, "store"));
	format_sweep(&f, json_object_get(json_object_get(status_doc, "sweep"), "differences"));
	format_consumer_lag(&f, links, reconcile_group ? reconcile_group : DEFAULT_GROUP);
	format_slot_lag(&f, links);
	format_histogram(&f, &cps_hist_reconcile_batch);
	format_histogram(&f, &cps_hist_store_commit);
	format_histogram(&f, &cps_hist_event_age);
	family(&f, "cpsync_http_requests_total", "counter",
	       "HTTP requests answered, by route pattern and status class.");
	if (http)
		cps_http_stats(http, http_requests_cb, &f);
	family(&f, "cpsync_http_request_duration_seconds", "histogram",
	       "Time to answer HTTP requests, by route pattern.");
	if (http)
		cps_http_stats(http, http_duration_cb, &f);
	return f.failed ? CPS_ERR_FATAL : CPS_OK;
}

/* ---- the running service ------------------------------------------------- */

struct cps_metrics {
	struct cps_status *status;
	struct cps_status_http *status_http;
	struct cps_http_server *http;
	char reconcile_group[128];

	pthread_t sampler;
	bool sampler_started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	bool stop;
};

/* @locality the sampler thread */
static void *sampler_main(void *arg)
{
	struct cps_metrics *m = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		next.tv_sec += 1;
		while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &next) == 0)
			;
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->lock);
		cps_status_sample(m->status);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* @locality an HTTP thread */
static void metrics_handler(void *ctx, const struct cps_http_request *req,
                            struct cps_http_response *resp)
{
	struct cps_metrics *m = ctx;
	json_t *doc = cps_status_http_document(m->status_http);
	struct cps_buf out;

	(void)req;
	if (!doc) {
		cps_http_reply_error(resp, 500, "status figures unavailable");
		return;
	}
	cps_buf_init(&out, METRICS_MAX_BYTES);
	if (cps_metrics_format(&out, doc, m->http, m->reconcile_group) != CPS_OK) {
		json_decref(doc);
		cps_buf_release(&out);
		cps_http_reply_error(resp, 500, "metrics exposition too large");
		return;
	}
	json_decref(doc);
	cps_buf_reset(&resp->body);
	if (cps_buf_append(&resp->body, out.data, out.len) != 0) {
		cps_buf_release(&out);
		cps_http_reply_error(resp, 500, "out of memory");
		return;
	}
	cps_buf_release(&out);
	resp->content_type = METRICS_CONTENT_TYPE;
	resp->status = 200;
}

int cps_metrics_start(const struct cps_metrics_conf *conf, struct cps_metrics **out, char *errstr,
                      size_t errstr_size)
{
	struct cps_metrics *m = calloc(1, sizeof(*m));
	const char *group = NULL;
	int rc;

	*out = NULL;
	if (!m)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	m->status = conf->status;
	m->status_http = conf->status_http;
	m->http = conf->http;
	pthread_mutex_init(&m->lock, NULL);
	cps_cond_init_monotonic(&m->cond);
	if (conf->cfg) {
		size_t np = cps_config_platform_count(conf->cfg);

		group = cps_config_get_string(conf->cfg, "kafka.group_id");
		for (size_t i = 0; i < np; i++) {
			struct cps_config_platform p;

			if (cps_config_platform_at(conf->cfg, i, &p) == CPS_OK &&
			    p.freshness_target_s > 0)
				cps_status_set_freshness_target(m->status, p.name,
				                                p.freshness_target_s);
		}
	}
	snprintf(m->reconcile_group, sizeof(m->reconcile_group), "%s",
	         group ? group : DEFAULT_GROUP);
	if (pthread_create(&m->sampler, NULL, sampler_main, m) != 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "metrics: cannot start the sampler thread");
		goto out_free;
	}
	m->sampler_started = true;
	if (m->http) {
		rc = cps_http_route(m->http, "GET", "/metrics", metrics_handler, m,
		                    conf->required_roles, errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_free;
	}
	*out = m;
	return CPS_OK;

out_free:
	cps_metrics_stop(m);
	return rc;
}

void cps_metrics_stop(struct cps_metrics *m)
{
	if (!m)
		return;
	if (m->sampler_started) {
		pthread_mutex_lock(&m->lock);
		m->stop = true;
		pthread_cond_signal(&m->cond);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->sampler, NULL);
	}
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
