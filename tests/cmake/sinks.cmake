# Sinks area: the sink runner (no echo, allow-lists, province Kafka sink on
# the embedded broker) and the postgres sink (city inbound tables, replication
# origin). Both are cmocka programs from tests/unit and need CPSYNC_TEST_PG
# (deploy/test.sh exports it); they fail, not skip, without it. Here: their
# time budget (consumer-group rebalances on the embedded broker take seconds)
# and a label to run the area alone with `ctest -L sinks`.
foreach(t unit.test_sink_runner unit.test_pg_sink)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES TIMEOUT 180 LABELS sinks)
  endif()
endforeach()

# unit.test_sink_poison: sink dead letters, the version guard and the
# province sink's registry ids (spawns tests/fixtures/registry.py).
if(TEST unit.test_sink_poison)
  set_tests_properties(unit.test_sink_poison PROPERTIES TIMEOUT 240 LABELS sinks
    ENVIRONMENT "CPSYNC_SOURCE_DIR=${PROJECT_SOURCE_DIR};CPSYNC_SCHEMA_DIR=${PROJECT_SOURCE_DIR}/schemas;CPSYNC_PYTHON3=${PYTHON3}")
endif()
