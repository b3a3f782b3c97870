# api.republish: re-publish of an entity (sync/publish/republish.c,
# sync/store/store_republish.c, sync/api/api_republish.c,
# sync/cli/cli_republish.c) against `cpsync run` with embedded Kafka: the
# current records and the change log from a time to new topics, decoded with
# python3-avro and compared with cpsync.records and cpsync.changes; roles
# (403), bad bodies (400) and the audit trail.
add_test(NAME api.republish
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_republish.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(api.republish PROPERTIES LABELS "api" TIMEOUT 240)
