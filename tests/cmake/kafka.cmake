# Kafka area: an independent client (kcat) reads from the embedded broker
# over real TCP. The cmocka tests of the connector are tests/unit/test_kafka.c
# and test_connector.c.
add_executable(cps_embedded_broker ${PROJECT_SOURCE_DIR}/tests/kafka/embedded_broker_main.c)
target_link_libraries(cps_embedded_broker PRIVATE cpsync_core cpsync_warnings PkgConfig::RDKAFKA)
add_test(NAME kafka.kcat_reads_embedded
	COMMAND bash ${PROJECT_SOURCE_DIR}/tests/kafka/kcat_reads_embedded.sh
		$<TARGET_FILE:cps_embedded_broker>)
set_tests_properties(kafka.kcat_reads_embedded PROPERTIES TIMEOUT 60)
