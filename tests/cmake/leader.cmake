# Single-reader sources across instances (tests/leader): two cpsync
# processes share a store and a Shenshan inbox; a PostgreSQL advisory lock
# picks the one that reads it, the other is STANDBY and takes over when the
# leader is SIGKILLed. Needs CPSYNC_TEST_PG (deploy/test.sh exports it) and the
# standalone broker (cps_e2e_broker, tests/cmake/e2e.cmake). `ctest -L leader`.
add_test(NAME leader.failover
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/leader/failover.py
    --cpsync $<TARGET_FILE:cpsync> --broker $<TARGET_FILE:cps_e2e_broker>
    --source ${PROJECT_SOURCE_DIR})
set_tests_properties(leader.failover PROPERTIES TIMEOUT 240 LABELS leader)
