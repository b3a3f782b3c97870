/*
 * Test helper for kafka.kcat_reads_embedded: starts the embedded broker with
 * topic "t", produces 3 messages through the kafka sink, prints the bootstrap
 * address on stdout and keeps the broker up until stdin reaches EOF.
 */
#include "kafka/broker.h"
#include "connectors/connector.h"

#include <stdio.h>
#include <string.h>

extern const struct cps_connector_ops cps_kafka_connector;

int main(void)
{
	const char *topics[] = {"t"};
	struct cps_broker *broker = NULL;
	struct cps_conn *sink = NULL;
	struct cps_settings s;
	struct cps_sink_record recs[3];
	char err[CPS_ERRSTR_SIZE], values[3][16];
	int rc = 1, c;

	cps_settings_init(&s);
	if (cps_broker_start(1, topics, 1, &broker, err, sizeof(err)) != CPS_OK)
		goto out;
	cps_settings_set(&s, "brokers", cps_broker_bootstrap(broker));
	cps_settings_set(&s, "entity.note.topic", "t");
	if (cps_connector_sink_open(&cps_kafka_connector, "demo", &s, &sink, err, sizeof(err)) !=
	    CPS_OK)
		goto out;
	for (int i = 0; i < 3; i++) {
		snprintf(values[i], sizeof(values[i]), "message-%d", i + 1);
		recs[i] = (struct cps_sink_record){.entity = "note",
		                                   .origin_platform = "demo",
		                                   .key = "k",
		                                   .key_len = 1,
		                                   .value = values[i],
		                                   .value_len = strlen(values[i])};
	}
	if (cps_sink_put(sink, recs, 3, NULL, err, sizeof(err)) != CPS_OK ||
	    cps_sink_flush(sink, 10000, err, sizeof(err)) != CPS_OK)
		goto out;
	printf("%s\n", cps_broker_bootstrap(broker));
	fflush(stdout);
	while ((c = getchar()) != EOF)
		;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "embedded_broker: %s\n", err);
	cps_sink_close(sink);
	cps_broker_stop(broker);
	cps_settings_release(&s);
	return rc;
}
