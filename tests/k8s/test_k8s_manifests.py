#!/usr/bin/env python3
"""k8s.manifests: deploy/k8s/ holds together, without a cluster.

Loads every manifest (PyYAML) and checks:
- the kustomization lists every manifest file and nothing else;
- the Deployment: 2 replicas, non-root, read-only root filesystem, no
  privilege escalation, resource requests, a writable emptyDir, probes;
- the probe paths are real routes that answer without a token: a cpsync
  started here (embedded Kafka, a scratch database on $CPSYNC_TEST_PG, API
  tokens configured, http.open_routes as in the ConfigMap) answers each with
  200 (readiness: 200 or 503 with its JSON), while a made-up path gets 404;
- ports: the probes' and the Service's target port is the container port
  whose number is the ConfigMap's http.listen port, and nothing overrides
  it (no --http);
- references: every ${VAR} of the ConfigMap's cpsync.yaml is an env var of
  the container; every secretKeyRef / configMapKeyRef / configMap volume
  item / claimName names an object and a key that exist; the config file
  path of the args is where the ConfigMap volume puts it; the Service and
  the PodDisruptionBudget select the pods' labels;
- `cpsync check-config` accepts the ConfigMap's cpsync.yaml with the
  environment the Deployment gives (the Secret's values, the pod name), and
  refuses it when one of those variables is missing.

usage: test_k8s_manifests.py CPSYNC_BIN SOURCE_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
DEFAULT_OPEN_ROUTES = ["/healthz", "/readyz", "/metrics"]  # http.open_routes' default


def check(cond, msg):
    if not cond:
        C.fail(msg)


def load(k8s_dir):
    docs = {}
    for name in sorted(os.listdir(k8s_dir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(k8s_dir, name)) as f:
            for d in yaml.safe_load_all(f):
                if d:
                    docs.setdefault(d["kind"], {})[d["metadata"]["name"]
                                                   if "metadata" in d else name] = (name, d)
    return docs


def one(docs, kind):
    objs = docs.get(kind, {})
    check(len(objs) == 1, "want exactly one %s, found %d" % (kind, len(objs)))
    return next(iter(objs.values()))[1]


def secret_keys(s):
    return set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())


def container_env(cont, docs):
    """{name: value} as the pod would get it; fails on a dangling reference."""
    env = {}
    for e in cont.get("env", []):
        vf = e.get("valueFrom")
        if vf is None:
            env[e["name"]] = str(e.get("value", ""))
        elif "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            check(ref["name"] in docs.get("Secret", {}), "env %s: no Secret '%s'"
                  % (e["name"], ref["name"]))
            s = docs["Secret"][ref["name"]][1]
            check(ref["key"] in secret_keys(s), "env %s: Secret '%s' has no key '%s'"
                  % (e["name"], ref["name"], ref["key"]))
            env[e["name"]] = str((s.get("stringData") or {}).get(ref["key"], "x"))
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            check(ref["name"] in docs.get("ConfigMap", {}), "env %s: no ConfigMap '%s'"
                  % (e["name"], ref["name"]))
            data = docs["ConfigMap"][ref["name"]][1].get("data", {})
            check(ref["key"] in data, "env %s: ConfigMap '%s' has no key '%s'"
                  % (e["name"], ref["name"], ref["key"]))
            env[e["name"]] = data[ref["key"]]
        elif "fieldRef" in vf:
            check(vf["fieldRef"]["fieldPath"] in ("metadata.name", "metadata.namespace",
                                                  "status.podIP", "spec.nodeName"),
                  "env %s: unexpected fieldRef" % e["name"])
            env[e["name"]] = "cpsync-7d9f-x2k4q"
        else:
            C.fail("env %s: unknown valueFrom %r" % (e["name"], vf))
    return env


def check_volumes(pod, cont, docs):
    """The config file path the args name, read from the ConfigMap volume."""
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in cont.get("volumeMounts", [])}
    for m in mounts.values():
        check(m["name"] in vols, "volumeMount %s: no volume" % m["name"])
    for v in vols.values():
        if "configMap" in v:
            cm = docs.get("ConfigMap", {}).get(v["configMap"]["name"])
            check(cm is not None, "volume %s: no ConfigMap %s" % (v["name"], v["configMap"]["name"]))
            for it in v["configMap"].get("items", []):
                check(it["key"] in cm[1]["data"], "volume %s: no key %s" % (v["name"], it["key"]))
        if "secret" in v:
            check(v["secret"]["secretName"] in docs.get("Secret", {}), "volume %s: no Secret"
                  % v["name"])
        if "persistentVolumeClaim" in v:
            check(v["persistentVolumeClaim"]["claimName"] in docs.get("PersistentVolumeClaim", {}),
                  "volume %s: no PersistentVolumeClaim" % v["name"])
    check(any("emptyDir" in vols[m["name"]] and not m.get("readOnly") for m in mounts.values()),
          "no writable emptyDir for the read-only root filesystem")
    args = cont.get("args", [])
    check("run" in args and "-c" in args, "args do not run cpsync with -c: %r" % args)
    check(not any(a.startswith("--http") for a in args), "args override http.listen")
    cfg_path = args[args.index("-c") + 1]
    mdir, fname = os.path.dirname(cfg_path), os.path.basename(cfg_path)
    check(mdir in mounts, "no volume mounted at %s" % mdir)
    v = vols[mounts[mdir]["name"]]
    check("configMap" in v, "%s is not the ConfigMap volume" % mdir)
    cm = docs["ConfigMap"][v["configMap"]["name"]][1]
    items = {it["path"]: it["key"] for it in v["configMap"].get("items", [])} or \
        {k: k for k in cm["data"]}
    check(fname in items, "the ConfigMap volume has no file %s" % fname)
    return cm["data"][items[fname]]


def check_pod(dep, docs):
    check(dep["spec"]["replicas"] == 2, "replicas %r, want 2" % dep["spec"]["replicas"])
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    check(dep["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "the Deployment's selector does not match its pods")
    check(pod["securityContext"].get("runAsNonRoot") is True
          and pod["securityContext"].get("runAsUser", 0) != 0, "pods may run as root")
    conts = pod["containers"]
    check(len(conts) == 1, "want one container")
    cont = conts[0]
    sc = cont["securityContext"]
    check(sc.get("readOnlyRootFilesystem") is True, "root filesystem not read-only")
    check(sc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
    check("ALL" in sc.get("capabilities", {}).get("drop", []), "capabilities not dropped")
    req = cont.get("resources", {}).get("requests", {})
    check("cpu" in req and "memory" in req, "no cpu/memory requests")
    for kind in ("Service", "PodDisruptionBudget"):
        obj = one(docs, kind)
        sel = obj["spec"]["selector"]
        sel = sel.get("matchLabels", sel)
        check(sel and sel.items() <= labels.items(), "the %s does not select the pods" % kind)
    return pod, cont, labels


def port_of(cont, ref):
    for p in cont.get("ports", []):
        if ref in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    C.fail("port %r is not a container port" % (ref,))


def probes(cont):
    out = {}
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind in cont:
            g = cont[kind]["httpGet"]
            out[kind] = (g["path"], g["port"])
    check("livenessProbe" in out and "readinessProbe" in out, "liveness/readiness missing")
    check(out["livenessProbe"][0] == "/healthz" and out["readinessProbe"][0] == "/readyz",
          "probes %r: want liveness /healthz, readiness /readyz" % out)
    return out


RUN_CONFIG = """\
instance: k8s-probe-{pid}
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
store:
  conninfo: "{conninfo}"
http:
  listen: 127.0.0.1:1   # overridden by --http
{open_routes}  tokens:
    ops: {{token: k8s-probe-operator-token-0123456789, role: operator}}
reconcile:
  workers: 1
platforms:
  province:
    connector: kafka
    source:
      topics: [province.person]
      topic:
        province.person: {{entity: person}}
rules:
  person:
    default: {{rule: precedence, platforms: [province]}}
"""


def probe_routes_answer(cpsync, source_dir, paths, open_routes):
    """A running cpsync answers each probe path without a token."""
    db = C.Database(C.require_pg(), "k8s_probe")
    tmp = tempfile.mkdtemp(prefix="cps-k8s-")
    cfg = os.path.join(tmp, "cpsync.yaml")
    with open(cfg, "w") as f:
        f.write(RUN_CONFIG.format(
            pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"), conninfo=db.conninfo,
            open_routes=("  open_routes: [%s]\n" % ", ".join(open_routes))
            if open_routes is not None else ""))
    cps = C.Cpsync(cpsync, cfg, os.path.join(tmp, "cpsync.log"))
    try:
        cps.start()
        for path in sorted(set(paths)):
            st, doc = C.http_get(cps.port, path, token=None)
            if path == "/readyz":
                C.wait_for("/readyz 200", lambda: C.http_get(cps.port, path, token=None)[0] == 200,
                           timeout=60, cps=cps)
            else:
                check(st == 200, "probe path %s answered %s without a token" % (path, st))
        st, _ = C.http_get(cps.port, "/healthzz", token=None)
        check(st in (401, 404), "a made-up path answered %s: the check cannot tell" % st)
        st, _ = C.http_get(cps.port, "/status", token=None)
        check(st == 401, "/status answered %s without a token: tokens not in force" % st)
        check(cps.stop() == 0, "cpsync did not stop cleanly\n" + cps.tail())
    finally:
        cps.kill()
        db.drop()


def check_config(cpsync, text, env, refs):
    """`cpsync check-config` with `env` as the only source of the variables
    the file refers to (`refs` are removed from this process's environment)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        clean = {k: v for k, v in os.environ.items() if k not in refs}
        r = subprocess.run([cpsync, "check-config", f.name], env=dict(clean, **env),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).strip()
    finally:
        os.unlink(f.name)


def main():
    C.set_name("k8s.manifests")
    if len(sys.argv) != 3:
        C.fail("usage: test_k8s_manifests.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    k8s = os.path.join(source_dir, "deploy", "k8s")
    docs = load(k8s)
    with open(os.path.join(k8s, "kustomization.yaml")) as f:
        listed = set(yaml.safe_load(f)["resources"])
    files = {n for n in os.listdir(k8s) if n.endswith(".yaml") and n != "kustomization.yaml"}
    check(listed == files, "kustomization lists %s, the folder holds %s" % (sorted(listed),
                                                                           sorted(files)))
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"):
        one(docs, kind)

    dep = one(docs, "Deployment")
    pod, cont, _ = check_pod(dep, docs)
    env = container_env(cont, docs)
    text = check_volumes(pod, cont, docs)
    cfg = yaml.safe_load(text)

    # ports
    listen = cfg["http"]["listen"]
    host, _, port = listen.rpartition(":")
    check(host in ("0.0.0.0", "[::]", ""), "http.listen %s is not reachable from the pod network"
          % listen)
    port = int(port)
    pr = probes(cont)
    for kind, (path, ref) in pr.items():
        check(port_of(cont, ref) == port, "%s port %r is not http.listen's %d" % (kind, ref, port))
    svc = one(docs, "Service")
    for p in svc["spec"]["ports"]:
        check(port_of(cont, p.get("targetPort", p["port"])) == port,
              "Service port %r does not reach http.listen's %d" % (p, port))

    # probes: open routes, real routes
    open_routes = cfg["http"].get("open_routes")
    for kind, (path, _) in pr.items():
        check(path in (open_routes if open_routes is not None else DEFAULT_OPEN_ROUTES),
              "%s path %s is not an open route: the kubelet sends no token" % (kind, path))
    probe_routes_answer(cpsync, source_dir, [p for p, _ in pr.values()], open_routes)

    # every ${VAR} of the configuration comes from the container's env
    refs = {m.group(1) for m in ENV_REF.finditer(text) if m.group(2) is None}
    missing = refs - set(env)
    check(not missing, "cpsync.yaml uses ${%s}, which the container does not set"
          % ", ".join(sorted(missing)))
    rc, out = check_config(cpsync, text, env, refs)
    check(rc == 0, "cpsync check-config refused the ConfigMap's cpsync.yaml: %s" % out)
    drop = sorted(refs)[0]
    rc, out = check_config(cpsync, text, {k: v for k, v in env.items() if k != drop}, refs)
    check(rc != 0 and drop in out, "check-config accepted the file without $%s: %s" % (drop, out))
    print("k8s.manifests: OK (%d objects, probes %s on port %d, %d env references)" % (
        sum(len(v) for v in docs.values()), sorted({p for p, _ in pr.values()}), port, len(refs)))


if __name__ == "__main__":
    main()
