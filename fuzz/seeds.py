#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets under fuzz/seeds/<target>/.

Usage: fuzz/seeds.py WORK_DIR  (run by scripts/fuzz.sh from the repository root; WORK_DIR
holds the images mkimage wrote and the plan and journal coldpatch wrote there).

Sources: the samples in ../shared/samples (decompressed), the bundled fixtures and the images
in WORK_DIR. ESE databases are also split into single pages (ese_page), the records on their
leaf pages (ese_record) and their two header pages (ese_header).
"""

import gzip
import hashlib
import os
import struct
import sys
from pathlib import Path

SAMPLES = Path("../shared/samples")
FIXTURES = Path("fixtures")
SEEDS = Path("fuzz/seeds")

PAGE_LEAF = 0x0002
PAGE_NEW_RECORD_FORMAT = 0x0800
SMALL_HEADER_LEN = 40
TAG_MASK = 0x1FFF
TAG_FLAGS_SHIFT = 13
NODE_COMPRESSED = 0x4
HEADER_PAGE_SIZE_OFFSET = 236


def put(target, data, name=None):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()
    (d / name).write_bytes(data)


def read(path):
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def files_under(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def is_ese(data):
    return len(data) >= 8 and data[4:8] == b"\xef\xcd\xab\x89"


def is_regf(data):
    return data[:4] == b"regf"


def ese_page_size(data):
    (cb,) = struct.unpack_from("<I", data, HEADER_PAGE_SIZE_OFFSET)
    return cb if cb in (2048, 4096, 8192, 16384, 32768) else 4096


def trim_zero_pages(data, cb):
    """The database without its trailing never-used pages (faster runs, same structure)."""
    end = len(data) // cb
    while end > 2 and not any(data[(end - 1) * cb : end * cb]):
        end -= 1
    return data[: end * cb]


def records(page, cb):
    """The data of every line on a small leaf page (the bytes a record parse sees)."""
    if cb > 8192:
        return
    (flags,) = struct.unpack_from("<I", page, 36)
    if not flags & PAGE_LEAF:
        return
    form = 1 if flags & PAGE_NEW_RECORD_FORMAT else 0
    (itag_state,) = struct.unpack_from("<H", page, 34)
    for itag in range(1, itag_state & 0x0FFF):
        at = cb - 4 * (itag + 1)
        if at < SMALL_HEADER_LEN:
            return
        tcb, tib = struct.unpack_from("<HH", page, at)
        node_flags = tib >> TAG_FLAGS_SHIFT
        start = SMALL_HEADER_LEN + (tib & TAG_MASK)
        line = page[start : start + (tcb & TAG_MASK)]
        k = 2 if node_flags & NODE_COMPRESSED else 0
        if len(line) < k + 2:
            continue
        (suffix,) = struct.unpack_from("<H", line, k)
        data = line[k + 2 + (suffix & TAG_MASK) :]
        if len(data) >= 4:
            yield bytes([form]) + data


def add_ese(data):
    cb = ese_page_size(data)
    db = trim_zero_pages(data, cb)
    put("ese_db", db)
    put("ese_header", db[: 2 * cb])
    seen = set()
    for i in range(2, len(db) // cb):
        page = db[i * cb : (i + 1) * cb]
        if any(page):
            put("ese_page", page)
            for rec in records(page, cb):
                if rec not in seen:
                    seen.add(rec)
                    put("ese_record", rec)


def add_regf(path, data):
    put("regf_hive", data)
    base = path.name.removesuffix(".gz")
    for suffix in (".LOG", ".LOG1", ".LOG2", ".LOG.gz", ".LOG1.gz", ".LOG2.gz"):
        log = path.parent / (base + suffix)
        if log.is_file() and log.stat().st_size > 0:
            put("regf_log", struct.pack("<I", len(data)) + data + read(log))


def reg_files():
    v5 = (
        "Windows Registry Editor Version 5.00\r\n\r\n"
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Test\\Sub]\r\n"
        '"Name"="text with \\"quotes\\""\r\n'
        '"Count"=dword:0000002a\r\n'
        '"Bin"=hex:01,02,03,\\\r\n  04,05\r\n'
        '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00\r\n'
        '"Expand"=hex(2):25,00,00,00\r\n'
        '"Q"=hex(b):01,00,00,00,00,00,00,00\r\n'
        "@=\"default\"\r\n\r\n"
        "[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Test\\Gone]\r\n\r\n"
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Test]\r\n"
        '"Old"=-\r\n'
    )
    put("reg_file", b"\xff\xfe" + v5.encode("utf-16-le"), "v5-utf16.reg")
    put("reg_file", v5.encode("ascii"), "v5-ascii.reg")
    v4 = v5.replace("Windows Registry Editor Version 5.00", "REGEDIT4")
    put("reg_file", v4.encode("latin-1"), "regedit4.reg")


def journal_seeds(path):
    """The journal as is (mode byte 0), and as a frame list (mode byte 1, see journal.rs)."""
    data = path.read_bytes()
    put("journal", b"\x00" + data)
    out, at = bytearray(b"\x01"), 8
    while at + 5 <= len(data):
        kind = data[at]
        (n,) = struct.unpack_from("<I", data, at + 1)
        payload = data[at + 5 : at + 5 + n][:0xFFFF]
        out += bytes([kind]) + struct.pack("<H", len(payload)) + payload
        at += 5 + n + 8
    put("journal", bytes(out))


def main():
    work = Path(sys.argv[1])
    roots = [SAMPLES, FIXTURES, work / "images"]
    for root in roots:
        for path in files_under(root):
            data = read(path)
            if is_ese(data):
                add_ese(data)
            elif is_regf(data) and ".LOG" not in path.name:
                add_regf(path, data)
    reg_files()
    for plan in sorted(work.glob("*.plan.json")):
        put("plan", plan.read_bytes())
    for journal in sorted(work.glob("*.journal")):
        journal_seeds(journal)
    profile = work / "profile.json"
    if profile.is_file() and profile.stat().st_size > 0:
        put("profile", profile.read_bytes())
    for target in sorted(os.listdir(SEEDS)):
        print(f"seeds: {target}: {len(os.listdir(SEEDS / target))} files")


if __name__ == "__main__":
    main()
