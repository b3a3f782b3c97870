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
# engine.sd_notify: a Python service manager (an AF_UNIX datagram socket as
# NOTIFY_SOCKET, WATCHDOG_USEC=2 s) sees READY=1, WATCHDOG=1 pings and
# STOPPING=1 (sync/engine/engine_notify.c), with cpsync under PR_SET_MDWE.
add_test(NAME engine.sd_notify
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/engine/test_sd_notify.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(engine.sd_notify PROPERTIES LABELS "engine" TIMEOUT 240)
# engine.systemd_unit: `systemd-analyze verify` of deploy/systemd/cpsync.service
# (ExecStart pointed at the build's binary); exit 77 = not run (no systemd-analyze).
add_test(NAME engine.systemd_unit
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/engine/test_systemd_unit.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(engine.systemd_unit PROPERTIES LABELS "engine" TIMEOUT 60
  SKIP_RETURN_CODE 77)
