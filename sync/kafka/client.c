/*
 * Kafka clients built from cpsync settings: the configuration (bootstrap,
 * "properties.*" passed through, per-kind overrides, librdkafka's log through
 * cps_log) and the client itself with an error in our convention. The one
 * place that talks to rd_kafka_conf_* and rd_kafka_new for cpsync. See client.h.
 */
#include "kafka/client.h"

#include "base/common.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

int cps_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size)
{
	char why[256];

	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
		return CPS_OK;
	if (cps_setting_is_secret(key))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "kafka property '%s' was rejected", key);
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "kafka property '%s' was rejected: %s", key, why);
}

/* librdkafka's own log lines, through cpsync's logger (they name brokers,
 * topics and partitions, never record contents). */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum cps_log_level l = level <= 3   ? CPS_LOG_ERROR
	                       : level == 4 ? CPS_LOG_WARN
	                       : level <= 6 ? CPS_LOG_INFO
	                                    : CPS_LOG_DEBUG;

	if (l == CPS_LOG_DEBUG)
		cps_log_debug(CPS_DBG_KAFKA, "KAFKA", "%s: %s", fac, buf);
	else
		CPS_LOG(l, "KAFKA", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static int apply_prefixed(rd_kafka_conf_t *conf, const struct cps_settings *properties,
                          const char *const prefixes[2], char *errstr, size_t errstr_size)
{
	for (size_t p = 0; p < 2; p++) {
		const struct cps_setting *kv;
		size_t it = 0;

		while ((kv = cps_settings_next(properties, prefixes[p], &it))) {
			const char *key = kv->key + strlen(prefixes[p]);

			if (!*key)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "setting '%s' names no property", kv->key);
			if (cps_kafka_conf_set(conf, key, kv->value, errstr, errstr_size) != CPS_OK)
				return CPS_ERR_INVALID;
		}
	}
	return CPS_OK;
}

/* Latency first (sync/ENGINE.md, "Latency: what each hop waits"). Set
 * before the user's properties, which override them. A consumer's fetch
 * waits at most 10 ms for data instead of librdkafka's 500 ms: the embedded
 * broker holds an empty fetch for the whole wait even when data arrives
 * meanwhile, so that wait is a hop's idle latency; a real broker answers as
 * soon as fetch.min.bytes (1) are there, and only idle fetches get more
 * frequent. A producer sends after 1 ms instead of 5: at high rates batches
 * still grow, as messages queue while the in-flight requests are answered. */
/* Memory next (sync/ENGINE.md, "Memory"): one process holds many clients
 * (a consumer per reconcile worker and per sink, a producer per source, the
 * publisher's, the Kafka sinks'), and librdkafka's queues are sized for one
 * client per process: a consumer prefetches until it holds 100000 messages
 * or 64 MiB (and one 50 MiB fetch beyond), a producer buffers up to 100000
 * messages or 1 GiB. Draining a backlog, that is hundreds of MiB. A
 * consumer here holds 10000 messages or 8 MiB (which also bounds a fetch to
 * 8 MiB): librdkafka 2.0.2 refills a drained queue only about once in
 * 0.5-1 s, so this bounds a consumer's drain rate too, to about 12000
 * messages of 1 KiB a second (2000 / 4 MiB gave about 4000). A
 * producer's window is at most a few thousand messages (a source runner has
 * 4 store batches in flight, the publisher 1000 rows, a sink 500 records):
 * 10000 messages or 16 MiB; a full queue makes produce wait for
 * deliveries, never drop. */
static const char *const consumer_defaults[][2] = {
    {"fetch.wait.max.ms", CPS_KAFKA_FETCH_WAIT_MS},
    {"fetch.min.bytes", "1"},
    {"queued.min.messages", CPS_KAFKA_QUEUED_MIN_MESSAGES},
    {"queued.max.messages.kbytes", CPS_KAFKA_QUEUED_MAX_KBYTES},
};
static const char *const producer_defaults[][2] = {
    {"linger.ms", CPS_KAFKA_LINGER_MS},
    {"queue.buffering.max.messages", CPS_KAFKA_PRODUCER_MAX_MESSAGES},
    {"queue.buffering.max.kbytes", CPS_KAFKA_PRODUCER_MAX_KBYTES},
};

rd_kafka_conf_t *cps_kafka_conf_new_for(enum cps_kafka_client kind, const char *bootstrap,
                                        const struct cps_settings *properties, char *errstr,
                                        size_t errstr_size)
{
	static const char *const common[2] = {"kafka.properties.", "properties."};
	static const char *const producer[2] = {"kafka.producer.", "producer."};
	static const char *const consumer[2] = {"kafka.consumer.", "consumer."};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (!conf) {
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "out of memory");
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, kafka_log);
	if (bootstrap &&
	    cps_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (kind == CPS_KAFKA_CONSUMER &&
	    cps_kafka_conf_set_pairs(conf, consumer_defaults, CPS_ARRAY_SIZE(consumer_defaults),
	                             errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (kind == CPS_KAFKA_PRODUCER &&
	    cps_kafka_conf_set_pairs(conf, producer_defaults, CPS_ARRAY_SIZE(producer_defaults),
	                             errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (apply_prefixed(conf, properties, common, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (kind == CPS_KAFKA_PRODUCER &&
	    apply_prefixed(conf, properties, producer, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (kind == CPS_KAFKA_CONSUMER &&
	    apply_prefixed(conf, properties, consumer, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	return conf;

out_destroy:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int cps_kafka_settings_for(enum cps_kafka_client kind, const struct cps_settings *props,
                           struct cps_settings *out)
{
	const char *own = kind == CPS_KAFKA_PRODUCER   ? "kafka.producer."
	                  : kind == CPS_KAFKA_CONSUMER ? "kafka.consumer."
	                                               : NULL;
	const struct cps_setting *kv;
	char key[512];
	size_t it = 0;

	while ((kv = cps_settings_next(props, "kafka.properties.", &it)))
		if (cps_settings_set(out, kv->key, kv->value) != 0)
			return -1;
	for (it = 0; own && (kv = cps_settings_next(props, own, &it));) {
		snprintf(key, sizeof(key), "kafka.properties.%s", kv->key + strlen(own));
		if (cps_settings_set(out, key, kv->value) != 0)
			return -1;
	}
	return 0;
}

rd_kafka_conf_t *cps_kafka_conf_new(const char *bootstrap, const struct cps_settings *properties,
                                    char *errstr, size_t errstr_size)
{
	return cps_kafka_conf_new_for(CPS_KAFKA_ANY, bootstrap, properties, errstr, errstr_size);
}

int cps_kafka_conf_set_pairs(rd_kafka_conf_t *conf, const char *const (*pairs)[2], size_t n,
                             char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < n; i++)
		if (cps_kafka_conf_set(conf, pairs[i][0], pairs[i][1], errstr, errstr_size) !=
		    CPS_OK)
			return CPS_ERR_INVALID;
	return CPS_OK;
}

rd_kafka_conf_t *cps_kafka_conf_new_with(enum cps_kafka_client kind, const char *bootstrap,
                                         const struct cps_settings *properties,
                                         const char *const (*pairs)[2], size_t n_pairs,
                                         char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new_for(kind, bootstrap, properties, errstr, errstr_size);

	if (conf && cps_kafka_conf_set_pairs(conf, pairs, n_pairs, errstr, errstr_size) != CPS_OK) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

bool cps_kafka_property_set(const struct cps_settings *properties, const char *property)
{
	char key[256];

	snprintf(key, sizeof(key), "properties.%s", property);
	if (cps_settings_get(properties, key))
		return true;
	snprintf(key, sizeof(key), "kafka.properties.%s", property);
	return cps_settings_get(properties, key) != NULL;
}

rd_kafka_t *cps_kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                                 char *errstr, size_t errstr_size)
{
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));

	if (!rk) {
		rd_kafka_conf_destroy(conf); /* rd_kafka_new only takes it on success */
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "creating the %s failed: %s", what,
		           why);
	}
	return rk;
}
