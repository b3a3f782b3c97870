# Schema-registry tests: unit.test_registry (tests/unit/codec/test_registry.c) spawns
# tests/fixtures/registry.py, a Confluent-compatible fixture, with the
# project's python3; registry.interop checks cpsync's Confluent frames with
# python3-avro against schemas fetched from that fixture.
if(TEST unit.test_registry)
  set_tests_properties(unit.test_registry PROPERTIES
    ENVIRONMENT "CPSYNC_SOURCE_DIR=${PROJECT_SOURCE_DIR};CPSYNC_SCHEMA_DIR=${PROJECT_SOURCE_DIR}/schemas;CPSYNC_PYTHON3=${PYTHON3}"
    TIMEOUT 120)
endif()

add_test(NAME registry.interop
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/interop/registry_test.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(registry.interop PROPERTIES TIMEOUT 180)

# registry.discipline: `cpsync run` against the fixture registry
# (sync/engine/engine_reconcile.c, cps_unified_registry_check): an
# incompatible unified-event schema leaves the reconcile link FAILED with the
# registry's reason in /status; schemas.registry.auto_register: false only
# looks ids up. Needs $CPSYNC_TEST_PG.
add_test(NAME registry.discipline
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/api/test_registry_discipline.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(registry.discipline PROPERTIES LABELS "api" TIMEOUT 240)
