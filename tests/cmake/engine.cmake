# The engine (sync/engine.c, status*.c, cli_run.c). engine.run_smoke starts
# `cpsync run -c CONFIG` with an embedded Kafka broker and a fresh database on
# $CPSYNC_TEST_PG (it fails when that is unset), pushes one record through the
# whole pipeline, checks /healthz, /status and /readyz, then SIGTERM: exit 0
# within 10 s (under ASan, leaks make the exit status non-zero).
# The cmocka programs unit.test_status and unit.test_engine get their labels.
add_test(NAME engine.run_smoke
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/engine/run_smoke.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(engine.run_smoke PROPERTIES LABELS "engine" TIMEOUT 180)
foreach(t unit.test_status unit.test_engine)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES LABELS "engine")
  endif()
endforeach()
