# Tests of the configuration area (sync/config*.c): the committed
# docs/CONFIG.md is what `cpsync config-doc` prints, the example config
# passes `cpsync check-config`, and a bad file fails it with FILE:LINE.
add_test(NAME config.doc_current
  COMMAND sh -c "\"$1\" config-doc > \"$3\" && diff -u \"$2\" \"$3\" || { echo 'docs/CONFIG.md is out of date: run cpsync config-doc > docs/CONFIG.md'; exit 1; }"
  sh ${CPSYNC_BIN} ${PROJECT_SOURCE_DIR}/docs/CONFIG.md ${CMAKE_CURRENT_BINARY_DIR}/CONFIG.md.generated)

add_test(NAME config.check_example
  COMMAND ${CPSYNC_BIN} check-config ${PROJECT_SOURCE_DIR}/deploy/cpsync.example.yaml)
set_tests_properties(config.check_example PROPERTIES
  PASS_REGULAR_EXPRESSION "^config OK: .*cpsync.example.yaml")

add_test(NAME config.check_rejects_bad
  COMMAND sh -c "out=$(\"$1\" check-config \"$2\" 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && echo \"$out\" | grep -qF \"unknown_key.yaml:4: unknown key 'kafka.brokres' (did you mean 'kafka.brokers'?)\""
  sh ${CPSYNC_BIN} ${PROJECT_SOURCE_DIR}/tests/data/config/unknown_key.yaml)

add_test(NAME config.check_hides_secret
  COMMAND sh -c "out=$(\"$1\" check-config \"$2\" 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && ! echo \"$out\" | grep -q hunter2 && echo \"$out\" | grep -qF \"schemas.registry.password\""
  sh ${CPSYNC_BIN} ${PROJECT_SOURCE_DIR}/tests/data/config/secret_type.yaml)

add_test(NAME config.check_connector_settings
  COMMAND sh -c "out=$(\"$1\" check-config \"$2\" 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && echo \"$out\" | grep -qF \"connector_setting.yaml:12: platforms.province.sink: unknown setting 'topic_prefix'\""
  sh ${CPSYNC_BIN} ${PROJECT_SOURCE_DIR}/tests/data/config/connector_setting.yaml)

# A policy standard that breaks the policy itself (特困 below 1.6 × 低保) is
# a warning naming the standard; the file stays valid. An unknown check code
# fails with the file named.
add_test(NAME config.check_policy
  COMMAND sh -c "o1=$(\"$1\" check-config \"$2\" 2>&1); r1=$?; o2=$(\"$1\" check-config \"$3\" 2>&1); r2=$?; echo \"$o1\"; echo \"$o2\"; [ $r1 -eq 0 ] && echo \"$o1\" | grep -qF \"warning: policy standard 'district_low': TEKUN_STANDARD_TOO_LOW\" && [ $r2 -eq 1 ] && echo \"$o2\" | grep -qF \"policy_unknown_check.yaml: policy 'checks.INCOME_TOO_HIGH': unknown check\""
  sh ${CPSYNC_BIN} ${PROJECT_SOURCE_DIR}/tests/data/config/policy_low_standard.yaml
  ${PROJECT_SOURCE_DIR}/tests/data/config/policy_unknown_check.yaml)
