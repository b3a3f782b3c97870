/*
 * broker_main: a standalone embedded Kafka cluster (sync/kafka/broker.h) for the
 * end-to-end tests, so that the broker outlives a cpsync that is killed.
 * usage: broker_main [--partitions N] --topic NAME[:PARTITIONS] ...
 * Prints "bootstrap=<host:port>" on stdout once every topic exists, then
 * runs until stdin reaches EOF or SIGTERM/SIGINT arrives. For fault tests,
 * SIGUSR1 takes the cluster's broker down (librdkafka's mock API: it drops
 * every connection and refuses new ones) and SIGUSR2 brings it back up.
 */
#include "kafka/broker.h"
#include "base/common.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal, want_down = -1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1 || sig == SIGUSR2)
		want_down = sig == SIGUSR1;
	else
		stop_signal = sig;
}

static void usage(void)
{
	fprintf(stderr, "usage: broker_main [--partitions N] --topic NAME[:PARTITIONS] ...\n");
}

/* Waits for stdin EOF or a stop signal, taking the broker down and up as
 * SIGUSR1 and SIGUSR2 ask. */
static void wait_for_stop(struct cps_broker *broker)
{
	struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
	char buf[256];

	while (!stop_signal) {
		int n = poll(&pfd, 1, 200);

		if (want_down >= 0) {
			rd_kafka_mock_cluster_t *mock = cps_broker_mock(broker);

			fprintf(stderr, "broker_main: broker %s\n", want_down ? "down" : "up");
			if (want_down)
				rd_kafka_mock_broker_set_down(mock, 1);
			else
				rd_kafka_mock_broker_set_up(mock, 1);
			want_down = -1;
		}
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				return;
		}
	}
}

int main(int argc, char **argv)
{
	struct cps_broker *broker = NULL;
	struct sigaction sa;
	char err[CPS_ERRSTR_SIZE], name[256];
	int partitions = 8, rc = 1;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
			partitions = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--topic") != 0 || i + 1 >= argc) {
			usage();
			return 2;
		} else {
			i++;
		}
	if (partitions < 1) {
		usage();
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cps_broker_start(partitions, NULL, 0, &broker, err, sizeof(err)) != CPS_OK)
		goto out;
	for (int i = 1; i < argc; i++) {
		const char *colon;
		int n = partitions;

		if (strcmp(argv[i], "--topic") != 0)
			continue;
		snprintf(name, sizeof(name), "%s", argv[++i]);
		colon = strchr(argv[i], ':');
		if (colon) {
			name[colon - argv[i]] = '\0';
			n = atoi(colon + 1);
			if (n < 1) {
				snprintf(err, sizeof(err), "topic '%s': bad partition count", name);
				goto out;
			}
		}
		if (cps_broker_create_topic(broker, name, n, err, sizeof(err)) != CPS_OK)
			goto out;
	}
	printf("bootstrap=%s\n", cps_broker_bootstrap(broker));
	fflush(stdout);
	wait_for_stop(broker);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "broker_main: %s\n", err);
	cps_broker_stop(broker);
	return rc;
}
