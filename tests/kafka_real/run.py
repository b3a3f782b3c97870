#!/usr/bin/python3
"""Runs one test of the `kafka` label (tests/cmake/kafka_real.cmake) with
the tests' venv python ($CPSYNC_TEST_PYENV: confluent-kafka 2.x with its
AdminClient, fastavro; Debian's python3-avro and psycopg2 visible), after
checking that a real broker is there. Without $CPSYNC_TEST_KAFKA (or the
venv) the test FAILS, it is never skipped: deploy/test.sh exports both.

usage: run.py SCRIPT [ARGS...]
"""
import os
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: run.py SCRIPT [ARGS...]")
    script = sys.argv[1]
    name = os.path.basename(script)
    missing = [v for v in ("CPSYNC_TEST_KAFKA", "CPSYNC_TEST_PYENV", "CPSYNC_TEST_PG")
               if not os.environ.get(v)]
    if missing:
        print("kafka_real (%s): FAIL: %s not set: these tests need a real Kafka broker, the "
              "tests' venv and a private PostgreSQL (deploy/test.sh starts and exports them; "
              "by hand: CPSYNC_TEST_KAFKA=$(deploy/kafka-private.sh start var/test-kafka 19092) "
              "CPSYNC_TEST_PYENV=$(deploy/pyenv.sh) CPSYNC_TEST_PG=$(deploy/pg-private.sh "
              "start var/test-pg 55432))" % (name, ", ".join(missing)), file=sys.stderr)
        sys.exit(1)
    py = os.environ["CPSYNC_TEST_PYENV"]
    if not os.access(py, os.X_OK):
        print("kafka_real (%s): FAIL: CPSYNC_TEST_PYENV=%s is not an executable python"
              % (name, py), file=sys.stderr)
        sys.exit(1)
    sys.stdout.flush()
    os.execv(py, [py, "-u", script] + sys.argv[2:])


if __name__ == "__main__":
    main()
