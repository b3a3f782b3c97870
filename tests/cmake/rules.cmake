# The rules lifecycle (tests/rules/lifecycle.py, issue 12): `cpsync rules
# diff` on the demo store predicts exactly what `rules apply` then makes;
# versions stay gapless and streaming goes on during an apply; a reload of an
# invalid configuration changes nothing. /usr/bin/python3 (python3-psycopg2);
# CPSYNC_TEST_PG.
add_test(NAME rules.lifecycle
	COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/rules/lifecycle.py
		--cpsync $<TARGET_FILE:cpsync> --source ${PROJECT_SOURCE_DIR})
set_tests_properties(rules.lifecycle PROPERTIES TIMEOUT 300 RESOURCE_LOCK cpsync_demo_origin)
