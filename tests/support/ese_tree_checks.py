#!/usr/bin/env python3
"""Dumps an ESE database with dissect.esedb as canonical JSON (used by tests/ese_build.rs; the general dump is ese_dump.py).

Output: {"tables": [{"name", "columns": [[id, name, coltyp]], "indexes": [[name, [column
ids], primary]], "records": [[value per column, in column order]], "checks": {...}}]}.
Values: int/bool as JSON, floats as {"f64_bits": IEEE double bits}, bytes as lowercase hex
strings, text as strings, absent as null.

"checks" cross-examines the trees with dissect's own key normalisation and B-tree search:
  "found_by_search": records found again by searching the primary index for their node key;
  "primary_keys_match": records whose node key equals dissect's key built from the record;
  per secondary index: "entries" (leaf nodes), "sorted" (by key, then bookmark),
  "keys_match" (entry key == dissect's key built from the record the bookmark points to),
  "bookmarks_found" (bookmarks that resolve to a record by primary-index search).
"""
import json
import struct
import sys

from dissect.esedb import EseDB
from dissect.esedb.btree import BTree
from dissect.esedb.exceptions import KeyNotFoundError
from dissect.esedb.record import Record


def value(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, float):
        # Exact: the IEEE double bits (single-precision values widen exactly).
        return {"f64_bits": struct.unpack("<Q", struct.pack("<d", v))[0]}
    return v


def checks(db, t):
    out = {}
    primary = t.primary_index
    if primary is None:
        return out
    records = list(t.records())
    found = 0
    keys_match = 0
    for r in records:
        key = bytes(r._node.key)
        if primary.key_from_record(r) == key:
            keys_match += 1
        try:
            node = BTree(db, t.root).search(key)
            if bytes(node.key) == key:
                found += 1
        except KeyNotFoundError:
            pass
    out["found_by_search"] = found
    out["primary_keys_match"] = keys_match
    indexes = {}
    for ix in t.indexes:
        if ix.is_primary:
            continue
        entries = [(bytes(n.key), bytes(n.data)) for n in ix.root.iter_leaf_nodes()]
        ok_keys = 0
        ok_bookmarks = 0
        for key, bookmark in entries:
            try:
                node = BTree(db, t.root).search(bookmark)
            except KeyNotFoundError:
                continue
            ok_bookmarks += 1
            if ix.key_from_record(Record(t, node)) == key:
                ok_keys += 1
        indexes[ix.name] = {
            "entries": len(entries),
            "sorted": entries == sorted(entries),
            "keys_match": ok_keys,
            "bookmarks_found": ok_bookmarks,
        }
    out["indexes"] = indexes
    return out


def main(path, with_checks):
    with open(path, "rb") as fh:
        db = EseDB(fh)
        out = []
        for t in db.tables():
            cols = [[c.identifier, c.name, int(c.type.value)] for c in t.columns]
            idx = [[i.name, i.column_ids, i.is_primary] for i in t.indexes]
            recs = [[value(r.get(c.name)) for c in t.columns] for r in t.records()]
            entry = {"name": t.name, "columns": cols, "indexes": idx, "records": recs}
            if with_checks and not t.name.startswith("MSys"):
                entry["checks"] = checks(db, t)
            out.append(entry)
        json.dump({"tables": out}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], "--checks" in sys.argv[2:])
