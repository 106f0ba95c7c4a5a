#!/usr/bin/env python3
"""Dumps an ESE database with dissect.esedb as canonical JSON (used by tests/ese_build.rs).

Output: {"tables": [{"name", "columns": [[id, name, coltyp]], "indexes": [[name, [column
ids], primary]], "records": [[value per column, in column order]]}]}. Values: int/float/bool
as JSON, bytes as lowercase hex strings, text as strings, absent as null.
"""
import json
import sys

from dissect.esedb import EseDB


def value(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def main(path):
    with open(path, "rb") as fh:
        db = EseDB(fh)
        out = []
        for t in db.tables():
            cols = [[c.identifier, c.name, int(c.type.value)] for c in t.columns]
            idx = [[i.name, i.column_ids, i.is_primary] for i in t.indexes]
            recs = []
            for r in t.records():
                recs.append([value(r.get(c.name)) for c in t.columns])
            out.append({"name": t.name, "columns": cols, "indexes": idx, "records": recs})
        json.dump({"tables": out}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
