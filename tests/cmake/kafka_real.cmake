# The real-broker suite (label `kafka`, issue 14): cpsync against a real
# Apache Kafka 4.1.2 broker instead of librdkafka's mock. deploy/test.sh starts
# a one-node broker (deploy/kafka-private.sh, var/test-kafka) and exports
# CPSYNC_TEST_KAFKA (its bootstrap), CPSYNC_TEST_KAFKA_SCRIPT, CPSYNC_TEST_PYENV
# (the tests' venv: confluent-kafka 2.x, fastavro) and CPSYNC_TEST_PG. Every
# test FAILS without them (tests/kafka_real/run.py checks, then runs the script
# with the venv's python). The tests share the broker and run in parallel:
# each prefixes its topics and consumer groups with its name and pid, and
# uses databases of its own; kafka_real.broker_restart starts (and always
# stops) a 3-node cluster of its own. Run the area alone: `ctest -L kafka`.
set(CPS_KR_RUN /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/kafka_real/run.py)
set(CPS_KR_ARGS --real-kafka --source ${PROJECT_SOURCE_DIR})

# the end-to-end pipeline (tests/e2e/pipeline.py) on the real broker
add_test(NAME kafka_real.pipeline
  COMMAND ${CPS_KR_RUN} ${PROJECT_SOURCE_DIR}/tests/e2e/pipeline.py
    --cpsync $<TARGET_FILE:cpsync> ${CPS_KR_ARGS})
# five SIGKILLs mid-stream (tests/e2e/crash_safety.py), the full 12,000 keys /
# 100,000 events: with jemalloc the unsanitized binary consumed 34,000 and
# 60,000 events before the fifth kill, which proves nothing (the test fails)
add_test(NAME kafka_real.crash_safety
  COMMAND ${CPS_KR_RUN} ${PROJECT_SOURCE_DIR}/tests/e2e/crash_safety.py
    --cpsync ${CPS_E2E_FAST_BIN} ${CPS_KR_ARGS} --kills 5)
# the no-loss restart tests (tests/threeway/no_loss.py) with cpsync's own
# Kafka the real broker: the ingest and unified topics survive cpsync
foreach(s restart kill)
  add_test(NAME kafka_real.no_loss_${s}
    COMMAND ${CPS_KR_RUN} ${PROJECT_SOURCE_DIR}/tests/threeway/no_loss.py --scenario ${s}
      --cpsync ${CPS_E2E_FAST_BIN} ${CPS_KR_ARGS})
endforeach()
# the ingest topic deleted and re-created while cpsync is stopped
add_test(NAME kafka_real.topic_recreate
  COMMAND ${CPS_KR_RUN} ${PROJECT_SOURCE_DIR}/tests/kafka_real/topic_recreate.py
    --cpsync $<TARGET_FILE:cpsync> ${CPS_KR_ARGS})
# two instances share the ingest and unified topics; one is SIGKILLed
add_test(NAME kafka_real.two_instances
  COMMAND ${CPS_KR_RUN} ${PROJECT_SOURCE_DIR}/tests/kafka_real/two_instances.py
    --cpsync $<TARGET_FILE:cpsync> ${CPS_KR_ARGS})
# a 3-node cluster of its own (free ports, its own directory, stopped at the
# end): one node SIGKILLed mid-stream and brought back
add_test(NAME kafka_real.broker_restart
  COMMAND ${CPS_KR_RUN} ${PROJECT_SOURCE_DIR}/tests/kafka_real/broker_restart.py
    --cpsync $<TARGET_FILE:cpsync> ${CPS_KR_ARGS})

set(CPS_KR_TESTS kafka_real.pipeline kafka_real.crash_safety kafka_real.no_loss_restart
  kafka_real.no_loss_kill kafka_real.topic_recreate kafka_real.two_instances
  kafka_real.broker_restart)
set_tests_properties(${CPS_KR_TESTS} PROPERTIES LABELS kafka TIMEOUT 300)
set_tests_properties(kafka_real.crash_safety kafka_real.no_loss_kill PROPERTIES TIMEOUT 420)
