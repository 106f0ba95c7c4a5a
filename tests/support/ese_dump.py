#!/usr/bin/env python3
"""Dump an ESE database (.edb) as one JSON document, read by an independent reader.

Usage: python3 tests/support/ese_dump.py READER DATABASE [--no-records] [--table NAME]...
READER: dissect  (dissect.esedb; the Python on PATH)
        pyesedb  (libesedb's Python binding; Debian's /usr/bin/python3 only)

Output (stdout, ASCII-escaped JSON):
    {"reader": str, "page_size": int,
     "tables": [{"name": str,
                 "columns": [{"name": str, "id": int, "type": int}],      # sorted by id
                 "indexes": [{"name": str, "id": int, "pgno_fdp": int, "flags": int,
                              "key_fld_ids": hex}],                        # sorted by name
                 "record_count": int,
                 "records": [{column name: value}]}]}                      # table order kept
Tables are sorted by name and include the catalog (MSysObjects) and the other system tables
both readers list. `--no-records` leaves out "records" (counts stay); `--table` limits the
dump to the named tables (indexes still come from the whole catalog).

Indexes come, for both readers alike, from the catalog: the MSysObjects rows of Type 3
(index) whose ObjidTable is the table's object id (the Id of its Type 1 row). Their fields are
the catalog's own (Id, ColtypOrPgnoFDP = the index's root page, Flags, KeyFldIDs raw).

Values, by column type (JET_coltyp numbers as in esent.h), None → null:
    1 Bit → bool; 2 UnsignedByte, 3 Short, 4 Long, 5 Currency, 14 UnsignedLong,
    15 LongLong, 17 UnsignedShort → int; 6 IEEESingle, 7 IEEEDouble → float (non-finite
    as the strings "nan", "inf", "-inf"); 8 DateTime → int (the raw 8 bytes, signed LE);
    16 GUID → "xxxxxxxx-xxxx-..." (bytes in Windows GUID order); 9 Binary, 11 LongBinary → hex;
    10 Text, 12 LongText → str. A multi-valued column → a list of such values.
A value a reader fails on is {"error": "<exception>: <message>"}.
Reader limits (values only; table names, columns, indexes and record counts agree exactly on
every sample database, which tests/harness_samples.rs checks):
* dissect: values as `Record.get` decodes them (long values joined, compressed values
  decompressed); it has no XPRESS10 decompression (test.edb's LongBinary: an error) and
  returns some failures as an "!ERROR! ..." string, kept as is.
* pyesedb (libesedb 20181229): no multi-value accessor in this binding, so a multi-valued
  column is {"multi_value_raw": hex} of the whole tagged data; Text via
  `get_value_data_as_string` (code page and compression as libesedb handles them); long
  values through `get_value_data_as_long_value`; other types from the raw bytes. It ignores
  the null bit of fixed columns (a NULL fixed column reads as its stored bytes: catalog
  RootFlag, binary.edb NullableFixedBinary), does not decompress compressed binary long
  values, and misreads some non-BMP text (index.edb: U+1F98A as U+1F58B) and some long text.
"""

import json
import math
import struct
import sys
import uuid

# JET_coltyp (esent.h).
JET_BIT, JET_UBYTE, JET_SHORT, JET_LONG, JET_CURRENCY = 1, 2, 3, 4, 5
JET_SINGLE, JET_DOUBLE, JET_DATETIME, JET_BINARY, JET_TEXT = 6, 7, 8, 9, 10
JET_LONGBINARY, JET_LONGTEXT, JET_ULONG, JET_LONGLONG, JET_GUID, JET_USHORT = 11, 12, 14, 15, 16, 17
# struct formats of the fixed-size numeric types.
NUMBER_FORMATS = {
    JET_UBYTE: "<B",
    JET_SHORT: "<h",
    JET_LONG: "<i",
    JET_CURRENCY: "<q",
    JET_SINGLE: "<f",
    JET_DOUBLE: "<d",
    JET_DATETIME: "<q",
    JET_ULONG: "<I",
    JET_LONGLONG: "<q",
    JET_USHORT: "<H",
}
# MSysObjects Type values (ESE catalog).
CATALOG_TABLE = "MSysObjects"
SYSOBJ_TABLE, SYSOBJ_INDEX = 1, 3


def json_float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def normalise(ctype, v):
    """A decoded value (either reader) → its JSON form for the column type."""
    if v is None:
        return None
    if isinstance(v, list):
        return [normalise(ctype, x) for x in v]
    if ctype == JET_BIT:
        return bool(v)
    if ctype in (JET_SINGLE, JET_DOUBLE):
        return json_float(float(v))
    if ctype == JET_GUID:
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, float):
        return json_float(v)
    return v


def from_raw(ctype, raw):
    """Raw bytes of a fixed-size column → its decoded value."""
    if raw is None:
        return None
    if ctype == JET_BIT:
        return raw[:1] != b"\x00"
    if ctype in NUMBER_FORMATS:
        fmt = NUMBER_FORMATS[ctype]
        if len(raw) != struct.calcsize(fmt):
            return {"bad_size_raw": raw.hex()}
        return normalise(ctype, struct.unpack(fmt, raw)[0])
    if ctype == JET_GUID:
        if len(raw) != 16:
            return {"bad_size_raw": raw.hex()}
        return str(uuid.UUID(bytes_le=bytes(raw)))
    return raw.hex()


# --- dissect.esedb ---------------------------------------------------------------------------


def dissect_value(record, column):
    try:
        return normalise(int(column.type.value), record.get(column.name))
    except Exception as e:  # a reader's own limit (e.g. an unimplemented compression)
        return {"error": "%s: %s" % (type(e).__name__, e)}


def tables_dissect(path, want_records, only):
    from dissect.esedb import EseDB

    fh = open(path, "rb")
    db = EseDB(fh)
    out = []
    for t in db.tables():
        columns = [{"name": c.name, "id": int(c.identifier), "type": int(c.type.value)} for c in t.columns]
        records = []
        count = 0
        need = want_records and (not only or t.name in only)
        for r in t.records():
            count += 1
            if need or t.name == CATALOG_TABLE:
                records.append({c.name: dissect_value(r, c) for c in t.columns})
        out.append({"name": t.name, "columns": columns, "record_count": count, "records": records})
    return db.page_size, out


# --- pyesedb (libesedb) ------------------------------------------------------------------------


def pyesedb_value(rec, j, ctype):
    if rec.is_multi_value(j):
        raw = rec.get_value_data(j)
        return None if raw is None else {"multi_value_raw": bytes(raw).hex()}
    if rec.is_long_value(j):
        lv = rec.get_value_data_as_long_value(j)
        if lv is None:
            return None
        data = lv.get_data()
        if data is None:
            return None
        if ctype in (JET_TEXT, JET_LONGTEXT):
            return {"long_text_raw": bytes(data).hex()}
        return bytes(data).hex()
    if ctype in (JET_TEXT, JET_LONGTEXT):
        return rec.get_value_data_as_string(j)
    raw = rec.get_value_data(j)
    if raw is None:
        return None
    return from_raw(ctype, bytes(raw))


def pyesedb_safe_value(rec, j, ctype):
    try:
        return pyesedb_value(rec, j, ctype)
    except Exception as e:  # a reader's own limit
        return {"error": "%s: %s" % (type(e).__name__, e)}


def tables_pyesedb(path, want_records, only):
    import pyesedb

    f = pyesedb.file()
    f.open(path)
    out = []
    for i in range(f.number_of_tables):
        t = f.get_table(i)
        columns = []
        for j in range(t.number_of_columns):
            c = t.get_column(j)
            columns.append({"name": c.name, "id": int(c.identifier), "type": int(c.type)})
        records = []
        need = want_records and (not only or t.name in only)
        if need or t.name == CATALOG_TABLE:
            for k in range(t.number_of_records):
                rec = t.get_record(k)
                records.append({col["name"]: pyesedb_safe_value(rec, j, col["type"]) for j, col in enumerate(columns)})
        out.append({"name": t.name, "columns": columns, "record_count": t.number_of_records, "records": records})
    return f.page_size, out


# --- common ------------------------------------------------------------------------------------


def indexes_from_catalog(tables):
    catalog = next((t for t in tables if t["name"] == CATALOG_TABLE), None)
    if catalog is None:
        raise SystemExit("no %s table: cannot list indexes" % CATALOG_TABLE)
    objid = {r["Name"]: r["Id"] for r in catalog["records"] if r.get("Type") == SYSOBJ_TABLE}
    by_table = {}
    for r in catalog["records"]:
        if r.get("Type") != SYSOBJ_INDEX:
            continue
        by_table.setdefault(r["ObjidTable"], []).append(
            {
                "name": r["Name"],
                "id": r["Id"],
                "pgno_fdp": r["ColtypOrPgnoFDP"],
                "flags": r["Flags"],
                "key_fld_ids": r.get("KeyFldIDs"),
            }
        )
    for t in tables:
        t["indexes"] = sorted(by_table.get(objid.get(t["name"]), []), key=lambda x: x["name"])


READERS = {"dissect": tables_dissect, "pyesedb": tables_pyesedb}


def main(argv):
    args = argv[1:]
    want_records = "--no-records" not in args
    args = [a for a in args if a != "--no-records"]
    only = set()
    while "--table" in args:
        i = args.index("--table")
        if i + 1 >= len(args):
            sys.stderr.write("--table needs a name\n")
            return 2
        only.add(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2 or args[0] not in READERS:
        sys.stderr.write("usage: ese_dump.py {dissect|pyesedb} DATABASE [--no-records] [--table NAME]...\n")
        return 2
    page_size, tables = READERS[args[0]](args[1], want_records, only)
    indexes_from_catalog(tables)
    for t in tables:
        t["columns"].sort(key=lambda c: c["id"])
        if not want_records or (only and t["name"] not in only):
            del t["records"]
    tables = [t for t in tables if not only or t["name"] in only]
    tables.sort(key=lambda t: t["name"])
    doc = {"reader": args[0], "page_size": page_size, "tables": tables}
    sys.stdout.write(json.dumps(doc, ensure_ascii=True))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
