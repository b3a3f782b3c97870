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
# api.log: live logging (sync/api/api_log.c, SIGHUP in sync/engine.c,
# sync/cli/cli_log.c): a running cpsync at level info gets PUT /api/v1/log,
# `cpsync log set` and SIGHUP; its next log lines show or lose debug lines,
# roles (403), bad bodies (400) and an invalid file on SIGHUP change nothing.
add_test(NAME api.log
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_log_api.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(api.log PROPERTIES LABELS "api" TIMEOUT 180)
# api.pause_persist: pause, resume and restart of a platform sink and the
# publisher (sync/sink/sink_runner.c, sync/publish/publish.c,
# sync/api/api_connectors.c); a pause is kept in cpsync.paused_links
# (migration 004) and a paused sink stays paused across SIGKILL and restart.
add_test(NAME api.pause_persist
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_pause_persist.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(api.pause_persist PROPERTIES LABELS "api" TIMEOUT 300)
