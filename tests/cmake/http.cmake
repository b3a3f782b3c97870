# HTTP server (sync/http/http.c) tests. The behaviour is tested by the cmocka
# program unit.test_http (real server on 127.0.0.1 port 0, libcurl client,
# HTTPS with a certificate made by `openssl req` at test time); here it gets
# its label and a timeout that allows for the idle-connection timeout check.
if(TEST unit.test_http)
  set_tests_properties(unit.test_http PROPERTIES LABELS "http" TIMEOUT 120)
endif()
# unit.test_http_lanes: probe routes while every API worker is blocked,
# stopping with queued requests, the request deadline, the per-IP default.
if(TEST unit.test_http_lanes)
  set_tests_properties(unit.test_http_lanes PROPERTIES LABELS "http" TIMEOUT 120)
endif()

# Issue 11's probes 6 and 7 (tests/api/test_http_hostile.py): 64 slow
# clients from two addresses do not lock /healthz or the API out and are
# closed by the request deadline; /healthz, /readyz and /metrics answer while
# every API worker waits behind a row lock. Against `cpsync run` with its
# default HTTP settings on $CPSYNC_TEST_PG (fails when that is unset).
add_test(NAME http.hostile
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_http_hostile.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR})
set_tests_properties(http.hostile PROPERTIES LABELS "http;api" TIMEOUT 300)
