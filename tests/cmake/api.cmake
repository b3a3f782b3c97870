# The steward API (sync/api*.c, sync/store/store_steward.c): api.steward runs
# tests/api/test_api.py with Debian's /usr/bin/python3 (python3-avro,
# -confluent-kafka, -psycopg2; the Avro/Kafka helpers of tests/e2e/e2elib.py)
# against `cpsync run` with an embedded broker and a fresh database on
# $CPSYNC_TEST_PG (it fails when that is unset).
add_test(NAME api.steward
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_api.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(api.steward PROPERTIES LABELS "api" TIMEOUT 300)
# api.scoped: tokens confined to regions (http.tokens.*.regions, the schemas'
# "cpsync.region" fields, sync/api/api_scope.c, filtered in SQL by
# sync/store/store_steward.c) and tokens given as SHA-256 (sync/http/http_auth.c),
# with tests/api/test_scoped.py against `cpsync run` on $CPSYNC_TEST_PG.
add_test(NAME api.scoped
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_scoped.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(api.scoped PROPERTIES LABELS "api" TIMEOUT 300)
# api.roles: every route of docs/openapi.yaml (its x-cpsync-roles) x no
# token, viewer, steward, operator against `cpsync run` with pii.scan's
# data and alerts: statuses, and no field outside the viewer allow-list nor
# an unmasked national ID, name or phone in a viewer's or operator's answer
# (tests/api/test_roles.py; needs $CPSYNC_TEST_PG).
add_test(NAME api.roles
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_roles.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(api.roles PROPERTIES LABELS "api" TIMEOUT 300)
