#!/usr/bin/python3
"""Independent Avro container file writer/reader for the files connector's
tests (Apache Avro's Python implementation, not Avro C).

  ocf_tool.py write SCHEMA.avsc RECORDS.json OUT.avro CODEC [PER_BLOCK]
      writes the records (Python datum form) with DataFileWriter, a block
      every PER_BLOCK records; prints {"sha256", "records": [hex binary]}
  ocf_tool.py read FILE.avro
      prints {"schema": full name, "codec", "records": [datum], "sha256"}
  ocf_tool.py encode SCHEMA.avsc RECORDS.json
      prints {"records": [hex binary]} (one Avro binary per record)
"""
import datetime
import hashlib
import io
import json
import sys

import avro.datafile
import avro.io
import avro.schema


def from_json(schema, records):
    """Days since the epoch for fields of logical type date (JSON has no dates)."""
    epoch = datetime.date(1970, 1, 1)
    for r in records:
        for f in getattr(schema, "fields", []):
            if getattr(f.type, "logical_type", None) == "date" and isinstance(r.get(f.name), int):
                r[f.name] = epoch + datetime.timedelta(days=r[f.name])
    return records


def to_json(value):
    if isinstance(value, datetime.date):
        return (value - datetime.date(1970, 1, 1)).days
    raise TypeError(type(value))


def binary(schema, datum):
    out = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(out))
    return out.getvalue().hex()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv):
    cmd = argv[1]
    if cmd == "write":
        schema = avro.schema.parse(open(argv[2]).read())
        records = from_json(schema, json.load(open(argv[3])))
        per_block = int(argv[6]) if len(argv) > 6 else 0
        with open(argv[4], "wb") as f:
            w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schema, codec=argv[5])
            for i, r in enumerate(records):
                w.append(r)
                if per_block and (i + 1) % per_block == 0:
                    w.sync()
            w.close()
        print(json.dumps({"sha256": sha256(argv[4]),
                          "records": [binary(schema, r) for r in records]}))
    elif cmd == "read":
        with open(argv[2], "rb") as f:
            r = avro.datafile.DataFileReader(f, avro.io.DatumReader())
            name = r.datum_reader.writers_schema.fullname
            codec = r.get_meta("avro.codec").decode()
            records = list(r)
            r.close()
        print(json.dumps({"schema": name, "codec": codec, "records": records,
                          "sha256": sha256(argv[2])}, default=to_json))
    elif cmd == "encode":
        schema = avro.schema.parse(open(argv[2]).read())
        records = from_json(schema, json.load(open(argv[3])))
        print(json.dumps({"records": [binary(schema, r) for r in records]}))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
