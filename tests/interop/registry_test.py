#!/usr/bin/env python3
"""registry.interop: cpsync's framings against an independent Avro
implementation (python3-avro) and the fixture registry. Confluent frames
written by `cpsync encode --registry` decode in Python with the schema the
registry hands out; a frame written by a Python producer with a newer writer
schema decodes in cpsync (writer fetched by id, resolved to the reader);
registry-free ids and single-object fingerprints match schemas/ids and the
Avro specification's CRC-64-AVRO.

usage: registry_test.py CPSYNC_BIN SOURCE_DIR
"""

import io
import json
import struct
import subprocess
import sys
import urllib.request

import avro.io
import avro.schema

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def crc64_avro(data):
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def http(url, body=None):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": CONTENT_TYPE})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def cpsync(binary, args, stdin):
    return subprocess.run([binary] + args, input=stdin, capture_output=True, timeout=60)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


def main():
    binary, src = sys.argv[1], sys.argv[2]
    data = src + "/tests/data/registry"
    with open(data + "/reading.avsc") as f:
        reading_text = f.read()
    reading = avro.schema.parse(reading_text)
    fixture = subprocess.Popen([sys.executable, src + "/tests/fixtures/registry.py"],
                               stdout=subprocess.PIPE)
    try:
        url = "http://127.0.0.1:%d" % int(fixture.stdout.readline())
        common = ["--schema", data + "/reading.avsc", "--schemas", data, "--framing", "confluent"]

        # 1. cpsync producer -> Python consumer.
        value = {"sensor": "s-17", "value": -42}
        p = cpsync(binary, ["encode"] + common + ["--registry", url, "--subject", "readings-value"],
                   json.dumps(value).encode())
        check(p.returncode == 0, "cpsync encode --registry succeeds: %s" % p.stderr.decode().strip())
        msg = p.stdout
        check(msg[0] == 0, "confluent magic byte 0x00")
        (sid,) = struct.unpack(">i", msg[1:5])
        subjects = http(url + "/subjects")
        check(subjects == ["readings-value"], "cpsync registered under its subject")
        writer = avro.schema.parse(http(url + "/schemas/ids/%d" % sid)["schema"])
        check(writer.canonical_form == reading.canonical_form, "registry holds cpsync's schema")
        got = avro.io.DatumReader(writer).read(avro.io.BinaryDecoder(io.BytesIO(msg[5:])))
        check(got == value, "python3-avro decodes cpsync's frame")

        # 2. Python producer with a newer writer schema -> cpsync consumer.
        v2 = json.loads(reading_text)
        v2["fields"].append({"name": "site", "type": "string", "default": "unknown"})
        v2_text = json.dumps(v2)
        v2_id = http(url + "/subjects/readings-value/versions",
                     json.dumps({"schema": v2_text}).encode())["id"]
        check(v2_id != sid, "the new version gets a new id")
        out = io.BytesIO()
        out.write(b"\x00" + struct.pack(">i", v2_id))
        avro.io.DatumWriter(avro.schema.parse(v2_text)).write(
            {"sensor": "s-18", "value": 7, "site": "north"}, avro.io.BinaryEncoder(out))
        p = cpsync(binary, ["decode"] + common + ["--registry", url], out.getvalue())
        check(p.returncode == 0, "cpsync decode --registry succeeds: %s" % p.stderr.decode().strip())
        check(json.loads(p.stdout) == {"sensor": "s-18", "value": 7},
              "cpsync fetched writer id %d and resolved it to its reader" % v2_id)
        stats = http(url + "/__stats")
        check(stats["paths"].get("GET /schemas/ids/%d" % v2_id) == 1, "one GET for the new id")

        # 3. Registry-free: ids from schema-ids.json, unknown ids refused.
        p = cpsync(binary, ["encode"] + common, json.dumps(value).encode())
        check(p.returncode == 0 and p.stdout[:5] == b"\x00" + struct.pack(">i", 101),
              "registry-free encode uses the manifest id 101")
        p = cpsync(binary, ["decode"] + common, b"\x00" + struct.pack(">i", 555) + msg[5:])
        check(p.returncode != 0 and b"schema id 555 unknown (registry-free mode: see "
              b"schemas/schema-ids.json)" in p.stderr, "registry-free decode refuses id 555")

        # 4. Single-object encoding: C3 01 + CRC-64-AVRO of the canonical form.
        so = ["--schema", data + "/reading.avsc", "--schemas", data, "--framing", "single-object"]
        p = cpsync(binary, ["encode"] + so, json.dumps(value).encode())
        fp = crc64_avro(reading.canonical_form.encode())
        check(p.returncode == 0 and p.stdout[:10] == b"\xc3\x01" + struct.pack("<Q", fp),
              "single-object header carries the spec's fingerprint %016x" % fp)
        check(p.stdout[10:] == msg[5:], "same Avro body in both framings")
    finally:
        fixture.terminate()
        fixture.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
