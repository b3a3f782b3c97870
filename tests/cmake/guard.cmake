# The guard's hostile-input tests (tests/hostile/): each input must be refused
# with exit status 1 and one specific stderr line. The unsanitized twin runs
# under a 256 MiB address-space limit; the sanitized binary runs without it
# (ASan reserves terabytes) and must print nothing more than the one line.
# The guard's unit tests are unit.test_guard (tests/unit/codec/test_guard.c).
add_test(NAME guard.hostile_limited
  COMMAND ${PROJECT_SOURCE_DIR}/tests/hostile/run.sh ${CPSYNC_PLAIN_BIN})
add_test(NAME guard.hostile_asan
  COMMAND ${PROJECT_SOURCE_DIR}/tests/hostile/run.sh --no-ulimit ${CPSYNC_BIN})
set_tests_properties(guard.hostile_limited guard.hostile_asan PROPERTIES TIMEOUT 120)
