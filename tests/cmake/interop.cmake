# Interop tests: the schemas of schemas/ against Apache Avro's Python
# implementation (python3-avro). roundtrip.py writes realistic records of every
# entity and envelope with python3-avro and checks that `cpsync decode` and
# `cpsync encode` agree with it, raw and in single-object framing.
add_test(NAME interop.python_avro_roundtrip
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/interop/roundtrip.py
          --cpsync ${CPSYNC_BIN} --schemas ${PROJECT_SOURCE_DIR}/schemas)
set_tests_properties(interop.python_avro_roundtrip PROPERTIES
  ENVIRONMENT "CPSYNC_SCHEMA_DIR=${PROJECT_SOURCE_DIR}/schemas"
  TIMEOUT 600)
