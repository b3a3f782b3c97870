# The demo on its real transports (tests/demo/six_links.py): `cpsync demo`
# with the province on the embedded Kafka, the city as a PostgreSQL database
# (change capture in, inbound tables out) and Shenshan as inbox/outbox
# directories; six links RUNNING, records everywhere, no echo to the city.
# Debian's /usr/bin/python3 (python3-avro, python3-psycopg2); CPSYNC_TEST_PG.
add_test(NAME demo.six_links
	COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/demo/six_links.py
		--cpsync $<TARGET_FILE:cpsync> --source ${PROJECT_SOURCE_DIR})
set_tests_properties(demo.six_links PROPERTIES TIMEOUT 240 RESOURCE_LOCK cpsync_demo_origin)
# The demo's deliberate breaches of 深民〔2021〕80号 (tests/demo/policy_findings.py):
# within 90 s of `cpsync demo --people 3000`, open findings of at least five
# checks (of the six its initial load breaks) in GET /api/v1/findings and OPEN
# alerts of as many on the unified alert topic (python3-avro); none of the
# verification arithmetic.
add_test(NAME demo.policy_findings
	COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/demo/policy_findings.py
		--cpsync $<TARGET_FILE:cpsync> --source ${PROJECT_SOURCE_DIR})
set_tests_properties(demo.policy_findings PROPERTIES TIMEOUT 300 RESOURCE_LOCK cpsync_demo_origin)
