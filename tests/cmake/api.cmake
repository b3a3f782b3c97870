# The steward API (sync/api*.c, sync/store/store_steward.c): api.steward runs
# tests/api/test_api.py with Debian's /usr/bin/python3 (python3-avro,
# -confluent-kafka, -psycopg2; the Avro/Kafka helpers of tests/e2e/e2elib.py)
# against `cpsync run` with an embedded broker and a fresh database on
# $CPSYNC_TEST_PG (it fails when that is unset).
add_test(NAME api.steward
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_api.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(api.steward PROPERTIES LABELS "api" TIMEOUT 300)
