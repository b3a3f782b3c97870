#!/usr/bin/python3
# Cross-implementation round trip of cpsync's Avro schemas: python3-avro (Apache
# Avro's Python implementation) writes realistic records of every entity and
# envelope; `cpsync decode` must turn the bytes into the expected Avro JSON and
# `cpsync encode` must turn that JSON back into bytes python3-avro reads as the
# original datum, raw and in single-object framing (fingerprint computed here,
# independently of the C side). Exits non-zero with a diff on any mismatch.
#
#   roundtrip.py --self-test                  python side only (no cpsync)
#   roundtrip.py --write-records              regenerate tests/interop/records/
#   roundtrip.py --cpsync BIN [--schemas DIR] everything, against a cpsync binary
import argparse
import datetime
import decimal
import io
import json
import os
import subprocess
import sys

try:
    import avro.datafile
    import avro.io
    import avro.schema
except ImportError:  # another python3 on PATH: use Debian's, which has python3-avro
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RECORDS_DIR = os.path.join(HERE, "records")
UTC = datetime.timezone.utc
EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")

ENTITIES = ("person", "household", "enrolment", "verification", "alert")


class Mismatch(Exception):
    pass


# ---------------------------------------------------------------- schemas


def load_schema_files(schema_dir):
    """{full name: (file base name, schema JSON)} for every .avsc of the directory and unified/."""
    out = {}
    for sub in ("", "unified"):
        d = os.path.join(schema_dir, sub)
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".avsc"):
                continue
            with open(os.path.join(d, fn), encoding="utf-8") as f:
                js = json.load(f)
            full = fullname(js["name"], js.get("namespace"), None)
            if full in out:
                raise Mismatch(f"schema {full} defined at top level of two files")
            out[full] = (fn[:-5], js)
    return out


def fullname(name, namespace, enclosing):
    if "." in name:
        return name
    ns = namespace if namespace is not None else enclosing
    return f"{ns}.{name}" if ns else name


def resolve_refs(js, files, defined=None, ns=None):
    """A copy of schema JSON with references to top-level types of other files
    replaced by their definition at the first use (as the C catalog does)."""
    if defined is None:
        defined = set()
    if isinstance(js, str):
        if js in PRIMITIVES:
            return js
        full = fullname(js, None, ns)
        if full in defined:
            return js
        if full in files:
            return resolve_refs(files[full][1], files, defined, ns)
        raise Mismatch(f"reference to unknown type '{full}'")
    if isinstance(js, list):
        return [resolve_refs(b, files, defined, ns) for b in js]
    t = js["type"]
    out = dict(js)
    if t in ("record", "error", "enum", "fixed"):
        full = fullname(js["name"], js.get("namespace"), ns)
        defined.add(full)
        inner_ns = full.rpartition(".")[0] or None
        if t in ("record", "error"):
            out["fields"] = [dict(f, type=resolve_refs(f["type"], files, defined, inner_ns))
                             for f in js["fields"]]
        return out
    if t == "array":
        out["items"] = resolve_refs(js["items"], files, defined, ns)
    elif t == "map":
        out["values"] = resolve_refs(js["values"], files, defined, ns)
    elif not isinstance(t, str) or t not in PRIMITIVES:
        out["type"] = resolve_refs(t, files, defined, ns)
    return out


def canonical(js, ns=None, seen=None):
    """Parsing Canonical Form (Avro 1.11 specification), as a Python structure."""
    if seen is None:
        seen = set()
    if isinstance(js, str):
        return js if js in PRIMITIVES else fullname(js, None, ns)
    if isinstance(js, list):
        return [canonical(b, ns, seen) for b in js]
    t = js["type"]
    if t in PRIMITIVES:
        return t
    if t in ("record", "error", "enum", "fixed"):
        full = fullname(js["name"], js.get("namespace"), ns)
        if full in seen:
            return full
        seen.add(full)
        out = {"name": full, "type": t}
        inner_ns = full.rpartition(".")[0] or None
        if t != "enum" and t != "fixed":
            out["fields"] = [{"name": f["name"], "type": canonical(f["type"], inner_ns, seen)}
                             for f in js["fields"]]
        if t == "enum":
            out["symbols"] = list(js["symbols"])
        if t == "fixed":
            out["size"] = int(js["size"])
        return out
    if t == "array":
        return {"type": "array", "items": canonical(js["items"], ns, seen)}
    if t == "map":
        return {"type": "map", "values": canonical(js["values"], ns, seen)}
    return canonical(t, ns, seen)


def canonical_text(js, ns=None):
    return json.dumps(canonical(js, ns), separators=(",", ":"), ensure_ascii=False)


CRC64_EMPTY = 0xC15D213AA4D7A795
CRC64_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (CRC64_EMPTY & -(_fp & 1))
    CRC64_TABLE.append(_fp)


def crc64_avro(data):
    fp = CRC64_EMPTY
    for b in data:
        fp = (fp >> 8) ^ CRC64_TABLE[(fp ^ b) & 0xFF]
    return fp


def fingerprint(js):
    return crc64_avro(canonical_text(js).encode("utf-8"))


def check_spec_vectors(path):
    """The specification's own PCF/fingerprint vectors (apache/avro share/test/data/schema-tests.txt)."""
    if not os.path.exists(path):
        raise Mismatch(f"missing '{path}'")
    cases, cur, key = [], {}, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("<<"):
            tag, _, rest = line[2:].partition(" ")
            if rest == "":  # multi-line value: <<INPUT, lines, INPUT
                end = tag
                body = []
                i += 1
                while lines[i] != end:
                    body.append(lines[i])
                    i += 1
                rest = "\n".join(body)
            cur[tag] = rest
            if tag == "fingerprint":
                cases.append(cur)
                cur = {}
        i += 1
    n = 0
    for c in cases:
        got = canonical_text(json.loads(c["INPUT"]))
        if got != c["canonical"]:
            raise Mismatch(f"canonical form of {c['INPUT']!r}: got {got}, want {c['canonical']}")
        fp = crc64_avro(got.encode("utf-8"))
        want = int(c["fingerprint"]) & 0xFFFFFFFFFFFFFFFF
        if fp != want:
            raise Mismatch(f"fingerprint of {got}: got {fp}, want {want}")
        n += 1
    if n < 10:
        raise Mismatch(f"only {n} specification vectors found in '{path}'")
    return n


class Catalog:
    def __init__(self, schema_dir):
        self.dir = schema_dir
        self.files = load_schema_files(schema_dir)
        self.by_base = {}
        for full, (base, js) in self.files.items():
            resolved = resolve_refs(js, self.files)
            parsed = avro.schema.parse(json.dumps(resolved))
            self.by_base[base] = (full, resolved, parsed)
        self.check_shared_types()
        self.check_docs()
        with open(os.path.join(schema_dir, "schema-ids.json"), encoding="utf-8") as f:
            ids = json.load(f)
        if set(ids) != set(self.files):
            raise Mismatch(f"schema-ids.json names {sorted(ids)}, files define {sorted(self.files)}")
        if len(set(ids.values())) != len(ids) or min(ids.values()) < 1:
            raise Mismatch("schema-ids.json ids must be distinct positive integers")

    def schema(self, base):
        return self.by_base[base]

    def check_shared_types(self):
        """A named type defined in several files (cpsync.Platform, cpsync.Entity,
        cpsync.Operation) must have the same definition everywhere."""
        defs = {}

        def walk(js, ns, where):
            if isinstance(js, list):
                for b in js:
                    walk(b, ns, where)
            elif isinstance(js, dict):
                t = js["type"]
                if t in ("record", "enum", "fixed"):
                    full = fullname(js["name"], js.get("namespace"), ns)
                    form = canonical_text(js, ns) if t != "record" else None
                    if full in defs and t != "record" and defs[full][0] != form:
                        raise Mismatch(f"type {full} differs between {defs[full][1]} and {where}")
                    defs.setdefault(full, (form, where))
                    if t == "record":
                        inner = full.rpartition(".")[0] or None
                        for f in js["fields"]:
                            walk(f["type"], inner, where)
                elif t == "array":
                    walk(js["items"], ns, where)
                elif t == "map":
                    walk(js["values"], ns, where)
                elif isinstance(t, (dict, list)):
                    walk(t, ns, where)

        for full, (base, js) in self.files.items():
            walk(js, None, base)

    def check_docs(self):
        def walk(js, where):
            if isinstance(js, list):
                for b in js:
                    walk(b, where)
            elif isinstance(js, dict):
                if js.get("type") in ("record", "enum") and not js.get("doc"):
                    raise Mismatch(f"{where}: type {js['name']} has no doc")
                for f in js.get("fields", []):
                    if not f.get("doc"):
                        raise Mismatch(f"{where}: field {f['name']} has no doc")
                    t = f["type"]
                    if isinstance(t, list) and "null" in t and t[0] == "null" and "default" not in f:
                        raise Mismatch(f"{where}: optional field {f['name']} has no default")
                    walk(t, where)
                for k in ("items", "values", "type"):
                    if isinstance(js.get(k), (dict, list)):
                        walk(js[k], where)

        for full, (base, js) in self.files.items():
            walk(js, base)


# ------------------------------------------------- Avro JSON encoding, in Python


def decimal_bytes(d, scale):
    """Two's-complement big-endian unscaled value, as python3-avro writes it."""
    q = d.quantize(decimal.Decimal(1).scaleb(-scale))
    if q != d:
        raise Mismatch(f"decimal {d} does not fit scale {scale}")
    unscaled = int(q.scaleb(scale))
    nbytes = (abs(unscaled).bit_length() + 1 + 7) // 8
    return unscaled.to_bytes(nbytes, "big", signed=True)


def bytes_from_decimal(b, scale):
    return decimal.Decimal(int.from_bytes(b, "big", signed=True)).scaleb(-scale)


def branch_name(s, ns):
    if isinstance(s, str):
        return s if s in PRIMITIVES else fullname(s, None, ns)
    t = s["type"]
    if t in ("record", "enum", "fixed"):
        return fullname(s["name"], s.get("namespace"), ns)
    if t in ("array", "map"):
        return t
    return branch_name(t, ns)


class JsonCodec:
    """Datum (python3-avro's logical values) <-> Avro JSON encoding, for one resolved schema."""

    def __init__(self, resolved):
        self.named = {}
        self.collect(resolved, None)
        self.root = resolved

    def collect(self, js, ns):
        if isinstance(js, list):
            for b in js:
                self.collect(b, ns)
        elif isinstance(js, dict):
            t = js["type"]
            if t in ("record", "enum", "fixed"):
                full = fullname(js["name"], js.get("namespace"), ns)
                self.named.setdefault(full, (js, full.rpartition(".")[0] or None))
                if t == "record":
                    for f in js["fields"]:
                        self.collect(f["type"], full.rpartition(".")[0] or None)
            elif t == "array":
                self.collect(js["items"], ns)
            elif t == "map":
                self.collect(js["values"], ns)
            elif isinstance(t, (dict, list)):
                self.collect(t, ns)

    def deref(self, s, ns):
        if isinstance(s, str) and s not in PRIMITIVES:
            return self.named[fullname(s, None, ns)]
        return s, ns

    def matches(self, s, ns, v):
        s, ns = self.deref(s, ns)
        t = s if isinstance(s, str) else s["type"]
        if isinstance(t, (dict, list)):
            return self.matches(t, ns, v)
        lt = s.get("logicalType") if isinstance(s, dict) else None
        if t == "null":
            return v is None
        if t == "boolean":
            return isinstance(v, bool)
        if lt == "date":
            return isinstance(v, datetime.date) and not isinstance(v, datetime.datetime)
        if lt == "timestamp-millis":
            return isinstance(v, datetime.datetime)
        if t in ("int", "long"):
            return isinstance(v, int) and not isinstance(v, bool)
        if t in ("float", "double"):
            return isinstance(v, float)
        if lt == "decimal":
            return isinstance(v, decimal.Decimal)
        if t == "bytes":
            return isinstance(v, bytes)
        if t == "string":
            return isinstance(v, str)
        if t == "enum":
            return isinstance(v, str) and v in s["symbols"]
        if t == "array":
            return isinstance(v, list)
        if t in ("map", "record"):
            return isinstance(v, dict)
        return False

    def to_json(self, v, s=None, ns=None):
        if s is None:
            s = self.root
        if isinstance(s, list):
            for b in s:
                if self.matches(b, ns, v):
                    if v is None:
                        return None
                    return {branch_name(self.deref(b, ns)[0], self.deref(b, ns)[1]): self.to_json(v, b, ns)}
            raise Mismatch(f"no union branch for {v!r}")
        s, ns = self.deref(s, ns)
        if isinstance(s, str):
            s = {"type": s}
        t, lt = s["type"], s.get("logicalType")
        if isinstance(t, (dict, list)):
            return self.to_json(v, t, ns)
        if lt == "date":
            return (v - EPOCH_DATE).days
        if lt == "timestamp-millis":
            delta = v - EPOCH
            return delta.days * 86400000 + delta.seconds * 1000 + delta.microseconds // 1000
        if lt == "decimal":
            return decimal_bytes(v, s.get("scale", 0)).decode("latin-1")
        if t == "bytes":
            return v.decode("latin-1")
        if t in ("null", "boolean", "int", "long", "float", "double", "string", "enum"):
            return v
        if t == "array":
            return [self.to_json(x, s["items"], ns) for x in v]
        if t == "map":
            return {k: self.to_json(x, s["values"], ns) for k, x in v.items()}
        if t == "record":
            inner = fullname(s["name"], s.get("namespace"), ns).rpartition(".")[0] or None
            return {f["name"]: self.to_json(v[f["name"]], f["type"], inner) for f in s["fields"]}
        raise Mismatch(f"unsupported type {t}")

    def from_json(self, j, s=None, ns=None):
        if s is None:
            s = self.root
        if isinstance(s, list):
            if j is None:
                return None
            (name, inner), = j.items()
            for b in s:
                bs, bns = self.deref(b, ns)
                if branch_name(bs, bns) == name:
                    return self.from_json(inner, b, ns)
            raise Mismatch(f"unknown union branch {name}")
        s, ns = self.deref(s, ns)
        if isinstance(s, str):
            s = {"type": s}
        t, lt = s["type"], s.get("logicalType")
        if isinstance(t, (dict, list)):
            return self.from_json(j, t, ns)
        if lt == "date":
            return EPOCH_DATE + datetime.timedelta(days=j)
        if lt == "timestamp-millis":
            return EPOCH + datetime.timedelta(milliseconds=j)
        if lt == "decimal":
            return bytes_from_decimal(j.encode("latin-1"), s.get("scale", 0))
        if t == "bytes":
            return j.encode("latin-1")
        if t == "array":
            return [self.from_json(x, s["items"], ns) for x in j]
        if t == "map":
            return {k: self.from_json(x, s["values"], ns) for k, x in j.items()}
        if t == "record":
            inner = fullname(s["name"], s.get("namespace"), ns).rpartition(".")[0] or None
            return {f["name"]: self.from_json(j[f["name"]], f["type"], inner) for f in s["fields"]}
        return j


def avro_write(parsed, datum):
    buf = io.BytesIO()
    avro.io.DatumWriter(parsed).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def avro_read(parsed, data):
    buf = io.BytesIO(data)
    datum = avro.io.DatumReader(parsed, parsed).read(avro.io.BinaryDecoder(buf))
    if buf.tell() != len(data):
        raise Mismatch(f"{len(data) - buf.tell()} trailing bytes after the datum")
    return datum


def diff(want, got, path="$"):
    """Lines describing where two JSON-like values differ."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append(f"{path}.{k}: missing, want {want[k]!r}")
            elif k not in want:
                out.append(f"{path}.{k}: unexpected {got[k]!r}")
            else:
                out += diff(want[k], got[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: {len(got)} items, want {len(want)}"]
        out = []
        for i, (a, b) in enumerate(zip(want, got)):
            out += diff(a, b, f"{path}[{i}]")
        return out
    if type(want) is not type(got) or want != got:
        return [f"{path}: got {got!r}, want {want!r}"]
    return []


# ------------------------------------------------------------ sample records

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def gb11643_check(first17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def national_id(region, birth, seq):
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + gb11643_check(first17)


def valid_national_id(s):
    return (len(s) == 18 and s[:17].isdigit() and s[17] in "0123456789X"
            and gb11643_check(s[:17]) == s[17])


def ts(y, mo, d, h=0, mi=0, s=0, ms=0):
    return datetime.datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC)


def yuan(s):
    return decimal.Decimal(s).quantize(decimal.Decimal("0.01"))


D = datetime.date
# People: (region of the ID, birth date, sequence, name, gender, residence region)
PEOPLE = [
    ("440305", D(1968, 3, 14), 317, "陈建国", "MALE", "440305"),
    ("440305", D(1971, 11, 2), 208, "林秀英", "FEMALE", "440305"),
    ("440305", D(2009, 6, 30), 455, "陈子涵", "FEMALE", "440305"),
    ("441521", D(1952, 1, 8), 131, "黄阿婆", "FEMALE", "441521"),
    ("441521", D(1985, 9, 21), 573, "黄志强", "MALE", "441521"),
    ("440307", D(1990, 1, 1), 123, "王小明", "MALE", "440307"),
    ("452122", D(1993, 7, 17), 248, "韦丽娟", "FEMALE", "440306"),
    ("440303", D(1947, 12, 25), 9, "欧阳振华", "MALE", "440303"),
]


def people_ids():
    ids = [national_id(r, b, s) for r, b, s, *_ in PEOPLE]
    # one ID ending in the check character X, as real ones do (1 in 11)
    seq = 1
    while gb11643_check(f"440309{D(1979, 4, 5):%Y%m%d}{seq:03d}") != "X":
        seq += 2
    ids.append(national_id("440309", D(1979, 4, 5), seq))
    return ids


def sample_records():
    ids = people_ids()
    persons = []
    for i, (reg, birth, seq, name, gender, res) in enumerate(PEOPLE):
        persons.append({
            "national_id": ids[i], "name": name, "gender": gender, "birth_date": birth,
            "registration_region_code": reg, "residence_region_code": res,
            "residence_address": None, "has_residence_permit": False, "disabled": False,
            "disability_grade": None, "seriously_ill": False, "labour_capacity": "FULL",
            "phone": None, "household_id": None, "deceased": False,
        })
    persons[0].update(residence_address="南山区桃源街道龙联社区平山村12栋603", phone="13798765432",
                      household_id="H440305202100123", seriously_ill=True, labour_capacity="PARTIAL")
    persons[2].update(labour_capacity="NOT_WORKING_AGE", household_id="H440305202100123")
    persons[3].update(disabled=True, disability_grade="GRADE_1", labour_capacity="NONE",
                      household_id="H441521202200007", phone="0660-6812345")
    persons[6].update(has_residence_permit=True, phone="+86 186 2000 1111",
                      residence_address="宝安区西乡街道固戍二路88号")
    persons[7].update(gender="UNSPECIFIED", disabled=True, disability_grade="GRADE_4",
                      labour_capacity="UNKNOWN", deceased=True)
    persons.append({
        "national_id": ids[8], "name": "李娜", "gender": "FEMALE", "birth_date": D(1979, 4, 5),
        "registration_region_code": "440309", "residence_region_code": "440311",
        "residence_address": "光明区凤凰街道", "has_residence_permit": False, "disabled": False,
        "disability_grade": None, "seriously_ill": False, "labour_capacity": "FULL",
        "phone": "15012345678", "household_id": "H440311202300045", "deceased": False,
    })

    households = [
        {"household_id": "H440305202100123", "head_national_id": ids[0],
         "members": [{"national_id": ids[0], "relation": "HEAD"},
                     {"national_id": ids[1], "relation": "SPOUSE"},
                     {"national_id": ids[2], "relation": "CHILD"}],
         "member_count": 3, "region_code": "440305", "household_type": "URBAN",
         "per_capita_monthly_income": yuan("1013.33"), "monitoring_category": "DIBAO",
         "monitoring_since": D(2021, 10, 1)},
        {"household_id": "H441521202200007", "head_national_id": ids[4],
         "members": [{"national_id": ids[4], "relation": "HEAD"},
                     {"national_id": ids[3], "relation": "PARENT"}],
         "member_count": 2, "region_code": "441521", "household_type": "RURAL",
         "per_capita_monthly_income": yuan("640.00"), "monitoring_category": "TEKUN",
         "monitoring_since": None},
        {"household_id": "H440311202300045", "head_national_id": ids[8],
         "members": [{"national_id": ids[8], "relation": "HEAD"}],
         "member_count": 1, "region_code": "440311", "household_type": "UNKNOWN",
         "per_capita_monthly_income": yuan("0.00"), "monitoring_category": "EXPENDITURE_HARDSHIP",
         "monitoring_since": D(2023, 2, 28)},
        {"household_id": "H440307202400311", "head_national_id": ids[5],
         "members": [], "member_count": 4, "region_code": "440307", "household_type": "URBAN",
         "per_capita_monthly_income": yuan("1799.99"), "monitoring_category": "DIBAO_EDGE",
         "monitoring_since": D(2024, 1, 1)},
    ]

    def enrol(subject, stype, prog, status, applied, amount, region, **kw):
        r = {"enrolment_id": f"{subject}:{prog}", "subject_type": stype, "subject_id": subject,
             "programme": prog, "status": status, "applied_date": applied, "start_date": None,
             "gradual_exit_start_date": None, "gradual_exit_end_date": None, "end_date": None,
             "monthly_amount": yuan(amount), "covered_members": 1, "granting_region_code": region,
             "status_reason": None, "emergency_region_code": None}
        r.update(kw)
        return r

    enrolments = [
        enrol("H440305202100123", "HOUSEHOLD", "DIBAO", "GRADUAL_EXIT", D(2021, 9, 6), "3480.00",
              "440305", start_date=D(2021, 10, 1), gradual_exit_start_date=D(2024, 3, 1),
              gradual_exit_end_date=D(2024, 8, 31), covered_members=3,
              status_reason="家庭人均收入超过低保标准"),
        enrol("H441521202200007", "HOUSEHOLD", "TEKUN_SUPPORT", "ACTIVE", D(2022, 2, 14),
              "2080.00", "441521", start_date=D(2022, 3, 1), covered_members=2),
        enrol(ids[0], "PERSON", "SINGLE_PERSON_DIBAO", "APPLIED", D(2024, 5, 20), "0.00",
              "440305"),
        enrol(ids[6], "PERSON", "TEMPORARY_ASSISTANCE", "EXITED", D(2023, 7, 3), "5000.00",
              "440306", start_date=D(2023, 7, 3), end_date=D(2023, 7, 3),
              status_reason="一次性救助已发放", emergency_region_code="440306"),
        enrol("H440307202400311", "HOUSEHOLD", "DIBAO_EDGE", "REJECTED", D(2024, 1, 8), "0.00",
              "440307", end_date=D(2024, 2, 2), covered_members=4, status_reason="财产超标"),
        enrol(ids[8], "PERSON", "SPECIAL_ASSISTANCE", "ACTIVE", D(2023, 3, 1), "12345678.90",
              "440311", start_date=D(2023, 3, 15)),
    ]

    def item(kind, amount, counted, source, member=None):
        return {"kind": kind, "member_national_id": member, "amount": yuan(amount),
                "counted": counted, "source": source}

    verifications = [
        {"verification_id": "HD2024-440305-000871", "household_id": "H440305202100123",
         "purpose": "REVIEW",
         "items": [item("WAGES", "4200.00", True, "PROVINCE", ids[0]),
                   item("BUSINESS", "-1280.50", True, "CITY", ids[1]),
                   item("BASIC_PENSION", "198.00", False, "PROVINCE", ids[1]),
                   item("DEPOSITS", "23500.17", False, "MINISTRY"),
                   item("INTERNET_FINANCE", "128.00", False, "MINISTRY", ids[0])],
         "counted_income_total": yuan("2919.50"), "employment_cost_deduction": yuan("0.00"),
         "member_count": 3, "per_capita_income": yuan("973.17"), "result": "ELIGIBLE",
         "verified_at": ts(2024, 2, 27, 8, 15, 42, 317), "valid_until": D(2024, 8, 27)},
        {"verification_id": "HD2024-441521-000012", "household_id": "H441521202200007",
         "purpose": "APPLICATION",
         "items": [item("WAGES", "3100.00", True, "DECLARED", ids[4]),
                   item("TRANSFER_INCOME", "180.00", True, "CITY", ids[3]),
                   item("REAL_ESTATE", "350000.00", False, "CITY"),
                   item("VEHICLES", "9999999999.99", False, "PROVINCE", ids[4])],
         "counted_income_total": yuan("3280.00"), "employment_cost_deduction": yuan("620.00"),
         "member_count": 2, "per_capita_income": yuan("1330.00"), "result": "ABOVE_ASSET_LIMIT",
         "verified_at": ts(2024, 4, 1, 2, 0, 0, 0), "valid_until": None},
        {"verification_id": "HD2023-440311-004410", "household_id": "H440311202300045",
         "purpose": "ALERT_FOLLOW_UP", "items": [],
         "counted_income_total": yuan("0.00"), "employment_cost_deduction": yuan("0.00"),
         "member_count": 1, "per_capita_income": yuan("0.00"), "result": "INCOMPLETE",
         "verified_at": ts(1999, 12, 31, 23, 59, 59, 999), "valid_until": None},
    ]

    alerts = [
        {"alert_id": "YJ20240815440307000123", "subject_type": "HOUSEHOLD",
         "subject_id": "H440307202400311", "category": "INCOME_COLLAPSE", "trigger": "UNEMPLOYMENT",
         "source_department": "HUMAN_RESOURCES_SOCIAL_SECURITY", "region_code": "440307",
         "raised_at": ts(2024, 8, 15, 1, 30), "severity": "MEDIUM", "status": "INVESTIGATING",
         "handled_at": ts(2024, 8, 16, 3, 5, 0, 250)},
        {"alert_id": "YJ20230210440311000007", "subject_type": "PERSON", "subject_id": ids[8],
         "category": "EXPENDITURE_HARDSHIP", "trigger": "MEDICAL_EXPENSE",
         "source_department": "MEDICAL_SECURITY", "region_code": "440311",
         "raised_at": ts(2023, 2, 10, 6, 0), "severity": "URGENT", "status": "ASSISTED",
         "handled_at": ts(2023, 2, 11)},
        {"alert_id": "YJ20240301441521000002", "subject_type": "PERSON", "subject_id": ids[3],
         "category": "ELIGIBILITY_CHANGE", "trigger": "DISABILITY_ASSESSED",
         "source_department": "DISABLED_PERSONS_FEDERATION", "region_code": "441521",
         "raised_at": ts(2024, 3, 1, 9, 12, 7, 1), "severity": "LOW", "status": "OPEN",
         "handled_at": None},
        {"alert_id": "YJ20240612440303000450", "subject_type": "HOUSEHOLD",
         "subject_id": "H440305202100123", "category": "POVERTY_RISK", "trigger": "DISASTER",
         "source_department": "EMERGENCY_MANAGEMENT", "region_code": "440303",
         "raised_at": ts(2024, 6, 12, 14), "severity": "HIGH", "status": "REFERRED",
         "handled_at": ts(2024, 6, 13, 0, 0, 0, 999)},
    ]
    return {"person": persons, "household": households, "enrolment": enrolments,
            "verification": verifications, "alert": alerts}


def envelope_records(cat, samples):
    """Ingest and unified events wrapping some of the sample records."""
    ingest = []
    positions = {"PROVINCE": "province:gd.lowincome.person/3@1234",
                 "CITY": "city:0/16B3F28", "SHENSHAN": "shenshan:ss-20240301-001.avro#17"}
    for i, ent in enumerate(ENTITIES):
        full, _, parsed = cat.schema(ent)
        rec = samples[ent][0]
        key = rec[[f["name"] for f in cat.files[full][1]["fields"]][0]]
        platform = ("PROVINCE", "CITY", "SHENSHAN")[i % 3]
        ingest.append({
            "platform": platform, "entity": ent.upper(), "key": key, "operation": "UPSERT",
            "effective_time": ts(2024, 3, 1, 0, 0, 0, i), "source_time": ts(2024, 3, 1, 8, 0, 1, 5),
            "source_position": positions[platform],
            "payload_fingerprint": to_signed64(fingerprint(cat.files[full][1])),
            "payload": avro_write(parsed, rec)})
    ingest.append({
        "platform": "CITY", "entity": "ALERT", "key": "YJ20230210440311000007", "operation": "DELETE",
        "effective_time": ts(2024, 1, 2), "source_time": ts(2024, 1, 2, 0, 0, 0, 1),
        "source_position": "city:1/A0000000", "payload_fingerprint": -1, "payload": None})

    unified = {}
    for ent in ENTITIES:
        full = cat.schema(ent)[0]
        fields = [f["name"] for f in cat.files[full][1]["fields"]]
        rec = samples[ent][-1]
        prov = [{"field": f, "platform": ("CITY" if j % 2 else "SHENSHAN") if j % 5 else None,
                 "source_position": None if j % 5 == 0 else "city:0/16B3F28",
                 "effective_time": ts(2024, 1, 1), "source_time": ts(2024, 1, 1, 0, 0, 1),
                 "rule": "steward" if j % 5 == 0 else "latest", "rule_version": 3,
                 "conflict_id": 42 if j % 5 == 0 else None,
                 "steward": "steward.futian01" if j % 5 == 0 else None,
                 "decided_at": ts(2024, 1, 3, 4, 5, 6, 7) if j % 5 == 0 else None,
                 "reason": "以核对中心结果为准" if j % 5 == 0 else None,
                 "rule_case": "shenshan_residents" if j % 5 == 2 else None}
                for j, f in enumerate(fields[:3])]
        key = rec[fields[0]]
        unified[f"{ent}_event"] = [
            {"entity": ent.upper(), "key": key, "version": 1, "operation": "UPSERT",
             "event_time": ts(2024, 1, 3, 4, 5, 7), "record": rec, "provenance": prov,
             "changed_fields": fields[:3], "prior_platforms": []},
            {"entity": ent.upper(), "key": key, "version": 9007199254740993, "operation": "DELETE",
             "event_time": ts(2024, 9, 1), "record": None, "provenance": [],
             "changed_fields": [], "prior_platforms": ["CITY", "SHENSHAN"]},
        ]
    out = {"ingest_event": ingest}
    out.update(unified)
    return out


def to_signed64(u):
    return u - (1 << 64) if u >= 1 << 63 else u


def all_cases(cat):
    samples = sample_records()
    for p in samples["person"]:
        if not valid_national_id(p["national_id"]):
            raise Mismatch("sample national ID fails its GB 11643 check")
    cases = dict(samples)
    cases.update(envelope_records(cat, samples))
    return cases


# ------------------------------------------------------------------- checks


def check_python(cat, cases):
    """Python alone: binary round trip, and JSON encoding round trip."""
    n = 0
    for base, recs in cases.items():
        _, resolved, parsed = cat.schema(base)
        codec = JsonCodec(resolved)
        for i, rec in enumerate(recs):
            data = avro_write(parsed, rec)
            back = avro_read(parsed, data)
            if back != rec:
                raise Mismatch(f"{base}[{i}]: python3-avro binary round trip changed the datum")
            js = codec.to_json(rec)
            again = json.loads(json.dumps(js, ensure_ascii=False))
            if codec.from_json(again) != rec:
                raise Mismatch(f"{base}[{i}]: Avro JSON round trip changed the datum")
            if avro_write(parsed, codec.from_json(again)) != data:
                raise Mismatch(f"{base}[{i}]: JSON-derived datum encodes to other bytes")
            n += 1
    return n


def records_text(cat, base, recs):
    codec = JsonCodec(cat.schema(base)[1])
    return "".join(json.dumps(codec.to_json(r), ensure_ascii=False, sort_keys=False) + "\n"
                   for r in recs)


def write_records(cat, cases):
    os.makedirs(RECORDS_DIR, exist_ok=True)
    for base, recs in cases.items():
        with open(os.path.join(RECORDS_DIR, base + ".jsonl"), "w", encoding="utf-8") as f:
            f.write(records_text(cat, base, recs))
        if base in ENTITIES:
            parsed = cat.schema(base)[2]
            with open(os.path.join(RECORDS_DIR, base + ".avro"), "wb") as f:
                w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), parsed, codec="deflate")
                for r in recs:
                    w.append(r)
                w.close()


def check_records(cat, cases):
    """The checked-in sample files match what this script generates."""
    for base, recs in cases.items():
        path = os.path.join(RECORDS_DIR, base + ".jsonl")
        with open(path, encoding="utf-8") as f:
            if f.read() != records_text(cat, base, recs):
                raise Mismatch(f"'{path}' is stale: rerun roundtrip.py --write-records")
        if base in ENTITIES:
            path = os.path.join(RECORDS_DIR, base + ".avro")
            with open(path, "rb") as f:
                got = list(avro.datafile.DataFileReader(f, avro.io.DatumReader()))
            if got != recs:
                raise Mismatch(f"'{path}' is stale: rerun roundtrip.py --write-records")


def run_cli(args, verb, base, framing, data):
    cmd = [args.cpsync, verb, "--entity", base, "--framing", framing, "--schemas", args.schemas]
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise Mismatch(f"{' '.join(cmd)} exited {p.returncode}: "
                       f"{p.stderr.decode('utf-8', 'replace').strip()}")
    return p.stdout


def check_cli(args, cat, cases):
    failures, n = [], 0
    for base, recs in cases.items():
        full, resolved, parsed = cat.schema(base)
        codec = JsonCodec(resolved)
        fp = fingerprint(resolved)
        header = b"\xc3\x01" + fp.to_bytes(8, "little")
        for i, rec in enumerate(recs):
            body = avro_write(parsed, rec)
            want = codec.to_json(rec)
            for framing, prefix, ascii_only in (("raw", b"", False),
                                                ("single-object", header, True)):
                what = f"{base}[{i}] {framing}"
                try:
                    out = run_cli(args, "decode", base, framing, prefix + body)
                    try:
                        got = json.loads(out.decode("utf-8"))
                    except ValueError as e:
                        raise Mismatch(f"decode printed invalid JSON ({e}): {out[:200]!r}")
                    d = diff(want, got)
                    if d:
                        raise Mismatch("decode differs from python3-avro:\n    " + "\n    ".join(d))
                    text = json.dumps(want, ensure_ascii=ascii_only).encode("utf-8")
                    enc = run_cli(args, "encode", base, framing, text)
                    if not enc.startswith(prefix):
                        raise Mismatch(f"encode header {enc[:10].hex()}, want {prefix.hex()}")
                    try:
                        back = avro_read(parsed, enc[len(prefix):])
                    except Exception as e:  # noqa: BLE001 - any python3-avro failure is a mismatch
                        raise Mismatch(f"python3-avro cannot read encode's bytes: {e}")
                    if back != rec:
                        d = diff(want, codec.to_json(back))
                        raise Mismatch("encode wrote another datum:\n    " + "\n    ".join(d))
                    if enc[len(prefix):] != body:
                        print(f"note: {what}: encode's bytes differ from python3-avro's "
                              f"(same datum)", file=sys.stderr)
                    n += 1
                except Mismatch as e:
                    failures.append(f"{what}: {e}")
    return n, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cpsync", help="cpsync binary to test")
    ap.add_argument("--schemas", default=os.path.join(ROOT, "schemas"))
    ap.add_argument("--self-test", action="store_true", help="python side only")
    ap.add_argument("--write-records", action="store_true", help="regenerate records/")
    args = ap.parse_args()
    args.schemas = os.path.abspath(args.schemas)
    try:
        nvec = check_spec_vectors(os.path.join(ROOT, "tests", "data", "schema-tests.txt"))
        cat = Catalog(args.schemas)
        cases = all_cases(cat)
        nrec = check_python(cat, cases)
        print(f"python: {len(cat.files)} schemas parse, {nvec} canonical-form vectors, "
              f"{nrec} records round-trip")
        for base in sorted(cat.by_base):
            print(f"  {cat.by_base[base][0]:36} fingerprint {fingerprint(cat.by_base[base][1]):016x}")
        if args.write_records:
            write_records(cat, cases)
            print(f"wrote {RECORDS_DIR}")
        check_records(cat, cases)
    except Mismatch as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    if not args.cpsync:
        if not args.self_test and not args.write_records:
            ap.error("--cpsync BIN is required (or --self-test)")
        return 0
    try:
        n, failures = check_cli(args, cat, cases)
    except Mismatch as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    print(f"cpsync: {n} round trips passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
