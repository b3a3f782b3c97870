# The operator API (sync/api/api_deadletters.c, sync/api/api_connectors.c,
# sync/store/store_deadletters.c, the replay/restart hooks of sync/ingest/ingest_replay.c and ingest.c).
# api.ops runs `cpsync run` (embedded Kafka, a fresh database on
# $CPSYNC_TEST_PG, viewer/steward/operator tokens) and drives dead letters
# (list, inspect, discard, replay incl. a racing double replay) and connector
# pause/resume/restart over HTTP, checking roles, the store and the audit
# trail. Debian's /usr/bin/python3 for python3-psycopg2 and confluent-kafka.
add_test(NAME api.ops
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_ops_api.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(api.ops PROPERTIES LABELS "api" TIMEOUT 300)
