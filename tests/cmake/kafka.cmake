# Kafka area: an independent client (kcat) reads from the embedded broker
# over real TCP. The cmocka tests of the connector are
# tests/unit/connectors/kafka/test_kafka.c and tests/unit/connectors/test_connector.c.
add_executable(cps_embedded_broker ${PROJECT_SOURCE_DIR}/tests/kafka/embedded_broker_main.c)
target_link_libraries(cps_embedded_broker PRIVATE cpsync_core cpsync_warnings PkgConfig::RDKAFKA)
add_test(NAME kafka.kcat_reads_embedded
	COMMAND bash ${PROJECT_SOURCE_DIR}/tests/kafka/kcat_reads_embedded.sh
		$<TARGET_FILE:cps_embedded_broker>)
set_tests_properties(kafka.kcat_reads_embedded PROPERTIES TIMEOUT 60)
# On a real Apache Kafka (label `kafka`, CPSYNC_TEST_KAFKA from deploy/test.sh,
# run with the tests' venv by tests/kafka_real/run.py): cpsync creates its
# unified topics compacted when configured, and a new consumer of a compacted
# unified topic still finds every key at its latest version.
add_test(NAME kafka.compacted_unified
	COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/kafka_real/run.py
		${PROJECT_SOURCE_DIR}/tests/kafka/compacted_unified.py
		--cpsync $<TARGET_FILE:cpsync> --broker none --source ${PROJECT_SOURCE_DIR})
set_tests_properties(kafka.compacted_unified PROPERTIES TIMEOUT 300 LABELS kafka)
