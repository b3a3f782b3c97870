#!/usr/bin/env python3
# Writes the seed corpus of fuzz_decode (tests/fuzz/corpus/): valid messages
# written by Apache Avro's Python implementation for each schema embedded in
# fuzz_decode.c (read from that file), plus hostile ones. Each file is one
# schema-selector byte then the Avro body. Needs Debian's python3-avro:
#   /usr/bin/python3 tests/fuzz/make_corpus.py
import io
import json
import os
import re

import avro.io
import avro.schema

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["ALL_TYPES", "PERSON", "TREE", "NULLS", "EMPTIES", "STRING", "ENUM_REC", "UNION", "INTS", "SCALARS"]


def embedded_schemas():
    src = open(os.path.join(HERE, "fuzz_decode.c")).read()
    out = {}
    for m in re.finditer(r'static const char (\w+)\[\] =((?:\s*"(?:[^"\\]|\\.)*")+);', src):
        if m.group(1) not in ORDER:
            continue
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        out[m.group(1)] = json.loads("".join(parts).replace('\\"', '"'))
    return out


def varint(n):
    z = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def encode(schema_json, datum):
    schema = avro.schema.parse(json.dumps(schema_json))
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def node(depth):
    return {"v": depth, "next": node(depth - 1) if depth > 0 else None}


def tree(depth):
    if depth == 0:
        return {"kids": [], "tags": {}, "blob": b""}
    return {"kids": [tree(depth - 1), tree(depth - 1)], "tags": {"a": None, "b": tree(depth - 1)},
            "blob": bytes([depth])}


VALID = {
    "ALL_TYPES": [
        {"n": None, "b": True, "i": -2147483648, "l": 9223372036854775807, "f": 1.5, "d": -2.25,
         "s": "masked", "by": b"\x00\x01", "fx": b"abcd", "gender": "D", "u": "x",
         "members": [{"national_id": "id%d" % i, "age": i} for i in range(3)],
         "attrs": {"k": 0.5, "m": {"national_id": "z", "age": 1}, "n": None}, "list": node(4)},
        {"n": None, "b": False, "i": 0, "l": 0, "f": 0.0, "d": 0.0, "s": "", "by": b"",
         "fx": b"\x00\x00\x00\x00", "gender": "A", "u": None, "members": [], "attrs": {},
         "list": node(0)},
        {"n": None, "b": False, "i": 7, "l": -1, "f": -0.0, "d": float("inf"), "s": "长", "by": b"x",
         "fx": b"wxyz", "gender": "B", "u": "C", "members": [], "attrs": {}, "list": node(1)},
    ],
    "PERSON": [
        {"national_id": "000000000000000000", "name": "masked", "gender": "FEMALE",
         "birth_date": 7000, "region": "440305", "address": None, "disabled": False,
         "income_cents": 123456, "phones": ["13800000000", "075500000000"], "updated_ms": 1700000000000},
        {"national_id": "", "name": "", "gender": "UNKNOWN", "birth_date": -1, "region": "",
         "address": "street", "disabled": True, "income_cents": -5, "phones": [], "updated_ms": 0},
    ],
    "TREE": [tree(0), tree(3)],
    "NULLS": [[], [None] * 100],
    "EMPTIES": [[], [{"n": None, "e": {}}] * 50],
    "STRING": ["", "hello", "x" * 300],
    "ENUM_REC": [{"age": 42, "gender": "B"}],
    "UNION": [None, 12345, "u"],
    "INTS": [[], [1, -1, 2147483647, -2147483648] * 10],
    "SCALARS": [
        {"n": None, "b": True, "i": 300, "l": -(1 << 40), "f": 3.25, "d": 1e300, "s": "scalar",
         "by": b"\xff\x00", "fx": b"abc", "e": "Y", "u": "Y", "list": node(3)},
        {"n": None, "b": False, "i": -1, "l": 1, "f": -1.0, "d": 0.5, "s": "", "by": b"",
         "fx": b"\x00\x01\x02", "e": "X", "u": b"xyz", "list": node(0)},
    ],
}

HOSTILE = {
    "NULLS": [varint(4000000000) + varint(0), varint(-5) + varint(0) + varint(0)],
    "STRING": [varint(1 << 30) + b"x", varint(-1), b"\x80\x00"],
    "ENUM_REC": [varint(42) + varint(7)],
    "UNION": [varint(5), varint(-1)],
    "INTS": [varint(-(1 << 63)) + varint(0), varint(-2) + varint(2) + varint(1) + varint(2) + varint(0),
             varint(5) + varint(1)],
}

if __name__ == "__main__":
    schemas = embedded_schemas()
    assert sorted(schemas) == sorted(ORDER), sorted(schemas)
    corpus = os.path.join(HERE, "corpus")
    os.makedirs(corpus, exist_ok=True)
    for sel, name in enumerate(ORDER):
        for k, datum in enumerate(VALID.get(name, [])):
            body = encode(schemas[name], datum)
            with open(os.path.join(corpus, "valid_%s_%d" % (name.lower(), k)), "wb") as f:
                f.write(bytes([sel]) + body)
            if k == 0:
                with open(os.path.join(corpus, "hostile_%s_trailing" % name.lower()), "wb") as f:
                    f.write(bytes([sel]) + body + b"\x00\x00")
                with open(os.path.join(corpus, "hostile_%s_truncated" % name.lower()), "wb") as f:
                    f.write(bytes([sel]) + body[:-1])
        for k, body in enumerate(HOSTILE.get(name, [])):
            with open(os.path.join(corpus, "hostile_%s_%d" % (name.lower(), k)), "wb") as f:
                f.write(bytes([sel]) + body)
