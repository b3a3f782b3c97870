# The three-way exchange end to end (tests/threeway): the city as a fresh
# PostgreSQL database (change capture + inbound tables), Shenshan as inbox and
# outbox directories, the province on Kafka, one real cpsync. Python harnesses
# on tests/e2e/e2elib.py, run with Debian's /usr/bin/python3 (python3-avro,
# -confluent-kafka, -psycopg2). Each needs CPSYNC_TEST_PG (deploy/test.sh
# exports it) and fails without it. pg_source_kill uses the standalone broker
# (cps_e2e_broker, tests/cmake/e2e.cmake): a SIGKILLed cpsync must not take the
# ingest topic with it. Run the area alone with `ctest -L threeway`.
set(CPS_TW_PYTHON /usr/bin/python3)
set(CPS_TW_DIR ${PROJECT_SOURCE_DIR}/tests/threeway)
foreach(t city_change_flows pg_source_kill six_links sink_degraded sink_dead_letters sweeps)
  add_test(NAME threeway.${t}
    COMMAND ${CPS_TW_PYTHON} ${CPS_TW_DIR}/${t}.py
      --cpsync $<TARGET_FILE:cpsync> --broker $<TARGET_FILE:cps_e2e_broker>
      --source ${PROJECT_SOURCE_DIR})
  set_tests_properties(threeway.${t} PROPERTIES TIMEOUT 240 LABELS threeway)
endforeach()
# Nothing lost across a restart of the embedded default (tests/threeway/no_loss.py):
# a clean restart with a backlog, and 10 SIGKILLs while all three platforms flow
# (on the unsanitized binary, as e2e.crash_safety: tens of thousands of events).
foreach(s restart kill)
  add_test(NAME threeway.no_loss_${s}
    COMMAND ${CPS_TW_PYTHON} ${CPS_TW_DIR}/no_loss.py --scenario ${s}
      --cpsync ${CPS_E2E_FAST_BIN} --broker $<TARGET_FILE:cps_e2e_broker>
      --source ${PROJECT_SOURCE_DIR})
  set_tests_properties(threeway.no_loss_${s} PROPERTIES TIMEOUT 480 LABELS threeway)
endforeach()
