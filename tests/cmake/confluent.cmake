# Outside clients from PyPI (tests/confluent), run with the tests' venv
# (CPSYNC_TEST_PYENV, deploy/pyenv.sh: confluent-kafka 2.x with its
# schema_registry, fastavro; Debian's python3-avro and psycopg2 visible). The
# scripts start under Debian's python3 and re-exec themselves with the venv;
# each fails, never skips, when an environment it needs is missing.
# - confluent.avro_serializer (label kafka): the province produces with
#   Confluent's AvroSerializer (subject <topic>-value, the registry fixture
#   tests/fixtures/registry.py) on the real broker (CPSYNC_TEST_KAFKA); cpsync
#   reconciles; the unified topics are read with AvroDeserializer; values and
#   provenance as deploy/rules.default.yaml demands. Needs CPSYNC_TEST_PG too.
add_test(NAME confluent.avro_serializer
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/confluent/avro_serializer.py
    --cpsync $<TARGET_FILE:cpsync> --source ${PROJECT_SOURCE_DIR})
set_tests_properties(confluent.avro_serializer PROPERTIES LABELS kafka TIMEOUT 240)
# - confluent.fastavro_files (no broker: cpsync's embedded Kafka): every .avsc
#   of schemas/ parses in fastavro with the shared named types resolved, with
#   cpsync's canonical forms and fingerprints; cpsync's Shenshan outbox files
#   (from city inbox files fastavro wrote) read with fastavro.reader. Needs
#   CPSYNC_TEST_PG.
add_test(NAME confluent.fastavro_files
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/confluent/fastavro_files.py
    --cpsync $<TARGET_FILE:cpsync> --source ${PROJECT_SOURCE_DIR})
set_tests_properties(confluent.fastavro_files PROPERTIES TIMEOUT 180)
