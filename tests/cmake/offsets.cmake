# api.offsets: a platform source's offsets (sync/api/api_offsets.c,
# sync/ingest/ingest_offsets.c, connectors/kafka/kafka_offsets.c,
# connectors/postgres/pg_source_offsets.c, sync/cli/cli_offsets.c): the
# province's Kafka group reset to a timestamp re-applies exactly the later
# messages without a version; the city's slot reset to latest skips what
# changed while paused. Debian's python3 (confluent-kafka, psycopg2, avro).
add_test(NAME api.offsets
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_offsets.py
          --cpsync $<TARGET_FILE:cpsync> --broker $<TARGET_FILE:cps_e2e_broker>
          --source ${PROJECT_SOURCE_DIR})
set_tests_properties(api.offsets PROPERTIES LABELS "api" TIMEOUT 300)
