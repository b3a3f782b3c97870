#!/usr/bin/env python3
"""cli.cacert: `--cacert FILE` of the commands that talk HTTPS (issue 13, item 9).

Makes a throw-away CA and a server certificate for 127.0.0.1 (openssl),
runs `cpsync run` with http.tls_cert_file / http.tls_key_file, then:
- `cpsync log show --url https://...` fails on the unknown CA, naming the
  certificate problem (exit 1);
- with `--cacert ca.pem` it answers, and so with $CPSYNC_CACERT;
- `--cacert` naming a missing file is refused before any request;
- `cpsync encode --registry https://... --cacert ca.pem` reaches a TLS
  registry fixture (the python fixture behind an ssl socket) and gets an id,
  and fails without --cacert.

usage: test_cacert.py CPSYNC_BIN SOURCE_DIR
"""
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import cpsynctest as C  # noqa: E402

CONFIG = """\
instance: cacert-{pid}
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
store:
  conninfo: "{conninfo}"
http:
  listen: 127.0.0.1:1   # overridden by --http
  tls_cert_file: {cert}
  tls_key_file: {key}
  tokens:
    ops-console: {{token: {token}, role: operator}}
"""


def check(cond, msg):
    if not cond:
        C.fail(msg)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_certs(d):
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "2", "-subj", "/CN=cpsync test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def tls_registry(cert, key):
    """The fixture registry served over TLS in this process; returns its port."""
    import registry as R  # tests/fixtures/registry.py
    R.Handler.registry = R.Registry()
    server = R.Server(("127.0.0.1", 0), R.Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def run(cpsync, *args, env=None, stdin=None):
    return subprocess.run([cpsync] + list(args), capture_output=True, text=stdin is None,
                          input=stdin, timeout=60, env=env)


def main():
    C.set_name("cli.cacert")
    if len(sys.argv) != 3:
        C.fail("usage: test_cacert.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="cps-cacert-")
    ca, cert, key = make_certs(tmp)
    db = C.Database(C.require_pg(), "cacert")
    cfg = os.path.join(tmp, "cpsync.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                              conninfo=db.conninfo, cert=cert, key=key, token=C.TOKEN))
    cps = C.Cpsync(cpsync, cfg, os.path.join(tmp, "cpsync.log"))
    try:
        cps.start(wait_healthy=False)
        url = "https://127.0.0.1:%d" % cps.port
        ctx = ssl.create_default_context(cafile=ca)

        def healthy():
            try:
                with urllib.request.urlopen(url + "/healthz", context=ctx, timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        C.wait_for("https /healthz", healthy, timeout=60, cps=cps)
        common = ["--url", url, "--token", C.TOKEN]
        env = dict(os.environ)
        env.pop("CPSYNC_CACERT", None)

        p = run(cpsync, "log", "show", *common, env=env)
        check(p.returncode == 1 and "certificate" in p.stderr.lower(),
              "without --cacert: %d %r" % (p.returncode, p.stderr))
        p = run(cpsync, "log", "show", *common, "--cacert", ca, env=env)
        check(p.returncode == 0 and p.stdout.startswith("level "),
              "with --cacert: %d %r %r" % (p.returncode, p.stdout, p.stderr))
        p = run(cpsync, "log", "show", *common, "--json", env=dict(env, CPSYNC_CACERT=ca))
        check(p.returncode == 0 and "level" in json.loads(p.stdout),
              "with $CPSYNC_CACERT: %d %r" % (p.returncode, p.stderr))
        p = run(cpsync, "log", "show", *common, "--cacert", os.path.join(tmp, "none.pem"),
                env=env)
        check(p.returncode == 1 and "cannot read the CA file" in p.stderr,
              "a missing CA file: %d %r" % (p.returncode, p.stderr))

        port = tls_registry(cert, key)
        reading = os.path.join(source_dir, "tests/data/registry/reading.avsc")
        enc = ["encode", "--schema", reading, "--schemas",
               os.path.join(source_dir, "tests/data/registry"), "--framing", "confluent",
               "--registry", "https://127.0.0.1:%d" % port, "--subject", "readings-value"]
        value = json.dumps({"sensor": "s-1", "value": 7}).encode()
        p = run(cpsync, *enc, env=env, stdin=value)
        check(p.returncode != 0 and b"certificate" in p.stderr.lower(),
              "registry without --cacert: %d %r" % (p.returncode, p.stderr))
        p = run(cpsync, *enc, "--cacert", ca, env=env, stdin=value)
        check(p.returncode == 0 and p.stdout[:1] == b"\x00",
              "registry with --cacert: %d %r" % (p.returncode, p.stderr))
        C.info("--cacert: API commands and the registry over HTTPS")
    finally:
        cps.stop()
        db.drop()


if __name__ == "__main__":
    main()
