/*
 * Helper of tests/bench/bench_pg_capture.sh: "prepare" opens the postgres
 * source once (slot + publication created, empty snapshot done) and closes;
 * "capture N" opens it again, polls until N rows came, committing every
 * batch and discarding the bytes (no ingest, no Kafka: a null consumer), and
 * prints the rows and the elapsed seconds.
 */
#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct cps_connector_ops cps_postgres_connector;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct cps_settings s;
	struct cps_conn *c = NULL;
	char err[CPS_ERRSTR_SIZE];
	long want = argc > 5 ? atol(argv[5]) : 0, got = 0, bytes = 0;
	double start, end;
	int rc = 1;

	if (argc < 5) {
		fprintf(stderr, "usage: %s conninfo schema_dir slot prepare|capture [rows]\n",
		        argv[0]);
		return 2;
	}
	cps_settings_init(&s);
	cps_settings_set(&s, "conninfo", argv[1]);
	cps_settings_set(&s, "schema_dir", argv[2]);
	cps_settings_set(&s, "slot", argv[3]);
	cps_settings_set(&s, "publication", argv[3]);
	cps_settings_set(&s, "table.public.person.entity", "person");
	start = now_s();
	if (cps_connector_source_open(&cps_postgres_connector, "city", &s, &c, err, sizeof(err)) !=
	    CPS_OK) {
		fprintf(stderr, "open: %s\n", err);
		goto out;
	}
	do {
		struct cps_source_batch b;

		if (cps_source_poll(c, &b, 2000, 1000, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "poll: %s\n", err);
			goto out;
		}
		for (size_t i = 0; i < b.n; i++)
			bytes += (long)b.msgs[i].value_len;
		got += (long)b.n;
		if (b.n &&
		    cps_source_commit(c, &b.msgs[b.n - 1].pos, 1, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "commit: %s\n", err);
			goto out;
		}
		if (!strcmp(argv[4], "prepare") && b.n == 0)
			break;
	} while (got < want && now_s() - start < 600);
	end = now_s();
	printf("rows %ld bytes %ld seconds %.3f\n", got, bytes, end - start);
	rc = got >= want ? 0 : 1;
out:
	cps_source_close(c);
	cps_settings_release(&s);
	return rc;
}
