#!/usr/bin/env python3
# Writes the hostile inputs of tests/hostile/: for each case NAME a tiny
# schema NAME.avsc, the raw Avro body NAME.bin and NAME.reason, the words
# the one-line rejection must contain. Re-run after editing CASES.
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    z = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


ENUM_REC = {"type": "record", "name": "P", "fields": [
    {"name": "age", "type": "int"},
    {"name": "gender", "type": {"type": "enum", "name": "G",
                                "symbols": ["UNKNOWN", "MALE", "FEMALE", "UNSPECIFIED"]}}]}
PERSON_LITE = {"type": "record", "name": "PersonLite", "fields": [
    {"name": "national_id", "type": "string"},
    {"name": "age", "type": "int"},
    {"name": "income_cents", "type": "long"}]}

CASES = {
    # an array of nulls declaring 4e9 items in 6 bytes (Avro C grows to GiBs)
    "array_nulls_4e9": ({"type": "array", "items": "null"},
                        varint(4000000000) + varint(0), "too many items"),
    # a string declaring 1 GiB with one byte present
    "string_1gib": ("string", varint(1 << 30) + b"x", "exceeds remaining"),
    # enum index 7 of a 4-symbol enum
    "enum_out_of_range": (ENUM_REC, varint(42) + varint(7), "enum index"),
    # union branch 5 of a 2-branch union
    "union_bad_index": (["null", "string"], varint(5), "union index"),
    # a record cut off before its last field
    "truncated_record": (PERSON_LITE, varint(4) + b"abcd" + varint(42), "truncated"),
    # a complete int followed by two more bytes
    "trailing_bytes": ("int", varint(21) + b"\x00\x00", "trailing bytes"),
    # an array block count of INT64_MIN, which cannot be negated
    "block_count_int64_min": ({"type": "array", "items": "int"},
                              varint(-(1 << 63)) + varint(0), "cannot be negated"),
}

if __name__ == "__main__":
    for name, (schema, body, reason) in CASES.items():
        with open(os.path.join(HERE, name + ".avsc"), "w") as f:
            f.write(json.dumps(schema) + "\n")
        with open(os.path.join(HERE, name + ".bin"), "wb") as f:
            f.write(body)
        with open(os.path.join(HERE, name + ".reason"), "w") as f:
            f.write(reason + "\n")
