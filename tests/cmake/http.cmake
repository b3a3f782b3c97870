# HTTP server (sync/http/http.c) tests. The behaviour is tested by the cmocka
# program unit.test_http (real server on 127.0.0.1 port 0, libcurl client,
# HTTPS with a certificate made by `openssl req` at test time); here it gets
# its label and a timeout that allows for the idle-connection timeout check.
if(TEST unit.test_http)
  set_tests_properties(unit.test_http PROPERTIES LABELS "http" TIMEOUT 120)
endif()
