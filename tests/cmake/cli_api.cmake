# The terminal commands over the HTTP API (sync/cli/cli_api.c, sync/cli/api_client.c),
# the OpenAPI route coverage and the personal-data scan. All need
# $CPSYNC_TEST_PG (they fail when it is unset), except cli.values.
# - openapi.routes: docs/openapi.yaml is well-formed OpenAPI 3.x and lists
#   exactly the routes (method + pattern) an in-process engine registers,
#   each with the roles it is registered for (x-cpsync-roles).
# - cli.api: tests/cli/test_cli.py drives every command (human and --json
#   output, exit codes, 401/403 hints) against `cpsync run`.
# - pii.scan: tests/pii/scan.py runs `cpsync run` with tokens, realistic
#   persons from three platforms (Shenshan's as inbox files, one named after a
#   national ID), bad messages and conflicts, then scans the log, /status,
#   /metrics, every viewer GET, the dead-letter list and every file cpsync
#   wrote that is not meant to hold personal data (ledger, receipts, progress,
#   reasons, manifests) for the data's national IDs, names and phones.
add_executable(test_openapi_routes ${PROJECT_SOURCE_DIR}/tests/openapi/test_openapi_routes.c)
target_link_libraries(test_openapi_routes PRIVATE cpsync_testlib cpsync_core cpsync_warnings
  PkgConfig::CMOCKA PkgConfig::YAML PkgConfig::CURL PkgConfig::RDKAFKA PkgConfig::LIBPQ
  PkgConfig::MHD)
target_include_directories(test_openapi_routes PRIVATE ${PROJECT_SOURCE_DIR}/sync)
add_test(NAME openapi.routes COMMAND test_openapi_routes)
set_tests_properties(openapi.routes PROPERTIES LABELS "api"
  ENVIRONMENT "CPSYNC_SOURCE_DIR=${PROJECT_SOURCE_DIR};CPSYNC_SCHEMA_DIR=${PROJECT_SOURCE_DIR}/schemas"
  TIMEOUT 120)

add_test(NAME cli.api
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/cli/test_cli.py
          --cpsync ${CPSYNC_BIN} --cli ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.api PROPERTIES LABELS "api" TIMEOUT 300)

# cli.values: tests/cli/test_cli_values.py runs records show and conflicts
# show against a stub of the API (no Kafka, no PostgreSQL): an enrolment key
# with ':', decimals holding a zero byte ("\u0000", which the CLI's parser
# refused), shown with their schema's scale, nested and negative ones too.
add_test(NAME cli.values
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_values.py
          --cli ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.values PROPERTIES LABELS "api" TIMEOUT 60)

add_test(NAME pii.scan
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/pii/scan.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(pii.scan PROPERTIES LABELS "api" TIMEOUT 300)

# The same scan over `cpsync demo` on its real transports. The demo's city
# sink writes under the cluster-wide replication origin "cpsync", which one
# session at a time may use: demo tests take turns.
add_test(NAME pii.scan_demo
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/pii/scan.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR} --demo)
set_tests_properties(pii.scan_demo PROPERTIES LABELS "api" TIMEOUT 300
  RESOURCE_LOCK cpsync_demo_origin)

# cli.cacert: --cacert FILE of the API commands (and $CPSYNC_CACERT) and of
# `cpsync encode/decode --registry` against cpsync's HTTPS listener and a TLS
# fixture registry, with a throw-away CA made by openssl.
add_test(NAME cli.cacert
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/cli/test_cacert.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.cacert PROPERTIES LABELS "api" TIMEOUT 180)
