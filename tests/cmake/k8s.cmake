# Kubernetes manifests (deploy/k8s/). k8s.manifests needs no cluster: it loads
# the manifests with PyYAML (Debian's python3-yaml), checks probes against a
# cpsync it starts (embedded Kafka, a scratch database on $CPSYNC_TEST_PG),
# ports against the ConfigMap's http.listen, every referenced env var, Secret,
# ConfigMap key and claim, and runs `cpsync check-config` on the ConfigMap.
add_test(NAME k8s.manifests
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/k8s/test_k8s_manifests.py ${CPSYNC_BIN}
          ${PROJECT_SOURCE_DIR})
set_tests_properties(k8s.manifests PROPERTIES LABELS "deploy" TIMEOUT 180)
