# Parsing Canonical Form and fingerprints checked against Apache Avro's
# Python implementation (python3-avro) through the cpsync command line: on the
# project's schemas/ and on the catalog test fixture (cross-file references).
add_test(NAME canonical.python_avro
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/interop/canonical_check.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR}/schemas)
add_test(NAME canonical.python_avro_fixture
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/interop/canonical_check.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR}/tests/data/schemas-fixture)
set_tests_properties(canonical.python_avro canonical.python_avro_fixture PROPERTIES TIMEOUT 300)
