# Prometheus /metrics and the richer /status (sync/observe/metrics.c, throughput.c,
# status.c). Both start `cpsync run` with an embedded broker and a fresh
# database on $CPSYNC_TEST_PG and push the sample persons through it.
# metrics.promtool: `promtool check metrics` (Debian prometheus) passes on the
# live /metrics and the record counters are > 0. metrics.status_fields: the
# platforms roll-up, throughput series and conflicts breakdown of /status.
foreach(mode promtool status)
  if(mode STREQUAL "promtool")
    set(name metrics.promtool)
  else()
    set(name metrics.status_fields)
  endif()
  add_test(NAME ${name}
    COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/metrics/live.py ${mode} ${CPSYNC_BIN}
            ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "metrics" TIMEOUT 180)
endforeach()
if(TEST unit.test_metrics)
  set_tests_properties(unit.test_metrics PROPERTIES LABELS "metrics")
endif()

# deploy/prometheus/cpsync-alerts.yaml: valid rules, and every metric they
# name is one cpsync exports (sync/observe/metrics.c).
add_test(NAME metrics.alert_rules
  COMMAND sh -c "promtool check rules \"$1\" || exit 1; for m in $(grep -o 'cpsync_[a-z_]*' \"$1\" | sort -u); do grep -q \"\\\"$m\" \"$2\" || { echo \"$m is not exported by cpsync\"; exit 1; }; done"
  sh ${PROJECT_SOURCE_DIR}/deploy/prometheus/cpsync-alerts.yaml ${PROJECT_SOURCE_DIR}/sync/observe/metrics.c)
