#!/usr/bin/env python3
"""Dump a registry hive as ONE canonical JSON tree, read by an independent reader.

Usage: python3 tests/support/hive_dump.py READER HIVE [HIVE...]
READER: regipy | dissect | hivex | libregf

Output (stdout): per hive, in the order given, one line holding one ASCII-escaped JSON tree:
    {"name": str, "values": [{"name": str, "type": int, "data": hex}], "subkeys": [...]}
rooted at the hive's root key. Subkeys are sorted by (upper-cased name, name), values by name.
The Rust side (tests/support/mod.rs) re-sorts with its own rule before comparing, so this
order is a convenience for reading, not part of the contract.

Conventions, identical for every reader:
* The default value has the name "" (empty).
* Names are Unicode text: compressed (1 byte per character) names decoded as Latin-1,
  the others as UTF-16LE (lone surrogates kept, which serde_json then refuses: loud).
* `data` is the value's raw bytes as stored (inline in the vk, one cell, or reassembled from
  a `db` big-data record), lower-case hex. `type` is the raw 32-bit type field.

What each reader can and cannot give, and what is done about it:
* regipy: its value API decodes names with ASCII/replace and decodes or trims data, so it is
  not used for values. The walk uses regipy's own record parsers: its root (the first cell of
  the first bin, checked against the base block's root offset: a mismatch is an error), its
  subkey-list walk (lf/lh/li/ri), its CM_KEY_NODE and VALUE_KEY structures for names and
  flags, its `read_value` for single-cell data and `_parse_indirect_block` for `db` data.
  Whether data is in a `db` record follows the format rule (minor version >= 4 and size >
  16344), not regipy's own test of the cell's first two bytes.
* dissect.regf: `KeyNode.subkeys()/values()`, `KeyValue.data` (raw); the default value's
  name comes from `NameLength == 0` (dissect calls it "(Default)"). dissect treats data as
  `db` only when the minor version is > 4 (not >= 4): a 1.4 hive would differ.
* hivex: the Perl binding Win::Hivex (node_children, node_name, node_values, value_key,
  value_value: raw type and bytes), emitted as JSON by the embedded Perl script below.
* libregf: parsed from `regfexport` output (text only; libregf's Python binding is not
  packaged here). regfexport prints REG_SZ / REG_EXPAND_SZ as decoded text, DWORD and QWORD
  as decimal, everything else as a hex dump, and a string or number it cannot decode (or,
  in later versions, whose size does not match its type) as a hex dump after "Mismatch in
  data size". Decoded forms are re-encoded: strings as UTF-16LE, with a terminating NUL
  exactly when `Data size` counts one; DWORD/QWORD little-endian, REG_DWORD_BIG_ENDIAN
  big-endian. Known losses, normalised on both sides by `Tree::lossy_for(Reader::Libregf)`
  in tests/support/mod.rs:
  - names are cut at the first NUL (regfexport prints C strings);
  - compressed names are decoded as Windows-1252 instead of Latin-1 (differs only in
    U+0080..U+009F);
  - a value literally named "(default)" cannot be told from the default value;
  - data of 1 to 3 bytes (stored inline in the vk), other than strings, comes back as
    zeros in regfexport 20201007 (SAM's 2-byte `ServerDomainUpdates` fe0f reads 0000);
  - REG_SZ / REG_EXPAND_SZ: regfexport 20201007 prints only the text up to the first NUL
    and a `Data size` of that text (plus NUL), not of the stored data, so only the text up
    to the first NUL is compared (data that is not valid UTF-16 up to there is dumped raw
    and compared raw).
"""

import json
import re
import subprocess
import sys
import tempfile

# Values bigger than this are stored in a `db` big-data record in hives of minor version >= 4
# (reference/regf.md, "Values": ROS CmpIsKeyValueBig).
BIG_DATA_THRESHOLD = 16344
BIG_DATA_MIN_MINOR = 4
# Base block size: cell offsets are relative to the first hive bin at 4096.
BASE_BLOCK_SIZE = 4096
# vk DataLength bit 31: data stored inline in the data offset field.
DATA_INLINE = 0x80000000
# nk flag KEY_COMP_NAME / vk flag VALUE_COMP_NAME (reference/regf.md).
KEY_COMP_NAME = 0x20


def decode_name(raw, compressed):
    if compressed:
        return raw.decode("latin-1")
    return raw.decode("utf-16-le", errors="surrogatepass")


def sort_key_name(name):
    return (name.upper(), name)


def canonical(tree):
    return {
        "name": tree["name"],
        "values": sorted(
            ({"name": v["name"], "type": v["type"], "data": v["data"]} for v in tree["values"]),
            key=lambda v: v["name"],
        ),
        "subkeys": sorted((canonical(k) for k in tree["subkeys"]), key=lambda k: sort_key_name(k["name"])),
    }


# --- regipy -------------------------------------------------------------------------------


def dump_regipy(path):
    import struct

    from regipy.registry import NKRecord, RegistryHive
    from regipy.structs import CM_KEY_NODE, VALUE_KEY

    hive = RegistryHive(path)
    minor = hive.header.minor_version
    stream = hive._stream
    # regipy's root is the first cell of the first bin; it must be the base block's root key
    # (cell at 4096 + offset: 4-byte size, 2-byte "nk" signature, then the key node).
    stream.seek(BASE_BLOCK_SIZE + hive.header.root_key_offset + 6)
    base_root = CM_KEY_NODE.parse_stream(stream)
    if bytes(base_root.key_name_string) != bytes(hive.root.header.key_name_string):
        raise SystemExit("regipy: the first cell of the first bin is not the base block's root key")

    def values_of(nk):
        out = []
        count = nk.header.values_count
        if not count:
            return out
        stream.seek(BASE_BLOCK_SIZE + 4 + nk.header.values_list_offset)
        offsets = struct.unpack("<%dI" % count, stream.read(4 * count))
        for off in offsets:
            stream.seek(BASE_BLOCK_SIZE + 4 + off)
            vk = VALUE_KEY.parse_stream(stream)
            name = "" if vk.name_size == 0 else decode_name(bytes(vk.name), bool(vk.flags.VALUE_COMP_NAME))
            size = vk.data_size
            if size & DATA_INLINE:
                data = struct.pack("<I", vk.data_offset)[: size & ~DATA_INLINE]
            elif size == 0:
                data = b""
            else:
                record = NKRecord.read_value(vk, stream)
                if minor >= BIG_DATA_MIN_MINOR and size > BIG_DATA_THRESHOLD:
                    data = NKRecord._parse_indirect_block(stream, record)
                else:
                    data = record.value
            if len(data) != (size & ~DATA_INLINE):
                raise SystemExit("regipy: value %r: read %d bytes, size says %d" % (name, len(data), size))
            out.append({"name": name, "type": int(vk.data_type), "data": bytes(data).hex()})
        return out

    def walk(nk):
        h = nk.header
        name = decode_name(bytes(h.key_name_string), bool(h.flags.KEY_COMP_NAME))
        subkeys = [walk(sk) for sk in (nk.iter_subkeys() or [])]
        return {"name": name, "values": values_of(nk), "subkeys": subkeys}

    return walk(hive.root)


# --- dissect.regf --------------------------------------------------------------------------


def dump_dissect(path):
    from dissect.regf import regf

    with open(path, "rb") as fh:
        hive = regf.RegistryHive(fh)

        def walk(key):
            values = []
            for v in key.values():
                name = "" if v.cell.NameLength == 0 else v.name
                values.append({"name": name, "type": int(v.type), "data": bytes(v.data).hex()})
            return {"name": key.name, "values": values, "subkeys": [walk(k) for k in key.subkeys()]}

        return walk(hive.root())


# --- hivex (Perl Win::Hivex) ----------------------------------------------------------------

HIVEX_PERL = r"""
use strict;
use warnings;
use Win::Hivex;
use JSON::PP;
my $h = Win::Hivex->open($ARGV[0]);
sub walk {
    my ($node) = @_;
    my @values;
    for my $v ($h->node_values($node)) {
        my ($type, $data) = $h->value_value($v);
        push @values, { name => $h->value_key($v), type => $type + 0, data => unpack("H*", $data) };
    }
    my @subkeys = map { walk($_) } $h->node_children($node);
    return { name => $h->node_name($node), values => \@values, subkeys => \@subkeys };
}
print JSON::PP->new->ascii->encode(walk($h->root));
"""


def dump_hivex(path):
    out = subprocess.run(["perl", "-e", HIVEX_PERL, path], check=True, capture_output=True)
    return json.loads(out.stdout)


# --- libregf (regfexport) ----------------------------------------------------------------------

REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_QWORD = 1, 2, 4, 5, 11
# regfexport's "Type:" descriptions (libregf regftools/export_handle.c) → type numbers.
LIBREGF_TYPES = {
    "undefined (REG_NONE)": 0,
    "string (REG_SZ)": 1,
    "expandable string (REG_EXPAND_SZ)": 2,
    "binary data (REG_BINARY)": 3,
    "32-bit integer little-endian (REG_DWORD_LITTLE_ENDIAN)": 4,
    "32-bit integer big-endian (REG_DWORD_BIG_ENDIAN)": 5,
    "symbolic link (REG_LINK)": 6,
    "multi-value string (REG_MULTI_SZ)": 7,
    "resource list (REG_RESOURCE_LIST)": 8,
    "full resource descriptor (REG_FULL_RESOURCE_DESCRIPTOR)": 9,
    "resource requirements list (REG_RESOURCE_REQUIREMENTS_LIST)": 10,
    "64-bit integer little-endian (REG_QWORD_LITTLE_ENDIAN)": 11,
}
MISMATCH = "Mismatch in data size and that required for data type."
HEXDUMP_LINE = re.compile(r"^([0-9a-f]{8}): ")
# A hex-dump line: "oooooooo: " then 8 "xx " groups, one space, 8 more: bytes end at column 59.
HEXDUMP_BYTES = slice(10, 59)


class RegfexportParser:
    def __init__(self, text):
        self.lines = text.split("\n")
        self.i = 0

    def fail(self, expected):
        found = self.lines[self.i] if self.i < len(self.lines) else "<end of output>"
        raise SystemExit("regfexport output line %d: expected %s, found %r" % (self.i + 1, expected, found))

    def peek(self):
        return self.lines[self.i] if self.i < len(self.lines) else None

    def take(self, prefix):
        line = self.peek()
        if line is None or not line.startswith(prefix):
            self.fail(repr(prefix))
        self.i += 1
        return line[len(prefix):]

    def skip_blank(self):
        while self.peek() == "":
            self.i += 1

    def hexdump(self, size):
        data = bytearray()
        while len(data) < size:
            line = self.peek()
            m = HEXDUMP_LINE.match(line or "")
            if not m or int(m.group(1), 16) != len(data):
                self.fail("a hex-dump line at offset %08x" % len(data))
            data += bytes.fromhex(line[HEXDUMP_BYTES].replace(" ", ""))
            self.i += 1
        if len(data) != size:
            self.fail("%d bytes of hex dump" % size)
        return bytes(data)

    def is_raw_dump(self):
        """A line "Data:" with nothing after it, followed by a hex dump from offset 0."""
        if self.peek() != "Data:" or self.i + 1 >= len(self.lines):
            return False
        m = HEXDUMP_LINE.match(self.lines[self.i + 1])
        return bool(m) and int(m.group(1), 16) == 0

    def string_data(self, first, size):
        # The text may span lines (a string with newlines): join until the UTF-16 length
        # matches `Data size` (with or without the terminating NUL) or a mismatch dump follows.
        text = first
        while True:
            units = len(text.encode("utf-16-le", errors="surrogatepass"))
            if units + 2 == size:
                return text.encode("utf-16-le", errors="surrogatepass") + b"\0\0"
            if units == size:
                return text.encode("utf-16-le", errors="surrogatepass")
            if units > size or self.peek() is None or self.peek() == MISMATCH:
                return None
            text += "\n" + self.lines[self.i]
            self.i += 1

    def value(self):
        header = self.take("Value: ")
        _index, _, name = header.partition(" ")
        if name == "(default)":
            name = ""
        type_text = self.take("Type: ")
        if type_text in LIBREGF_TYPES:
            vtype = LIBREGF_TYPES[type_text]
        elif type_text.startswith("unknown: 0x"):
            vtype = int(type_text[len("unknown: 0x"):], 16)
        else:
            self.fail("a known value type")
        size = int(self.take("Data size: "))
        data = None
        raw_dump = False
        if vtype in (REG_SZ, REG_EXPAND_SZ) and self.is_raw_dump():
            # String data regfexport cannot decode at all: "Data:" alone, then the hex dump.
            self.i += 1
            raw_dump = True
        elif vtype in (REG_SZ, REG_EXPAND_SZ) and self.peek() != MISMATCH:
            first = self.take("Data:")
            first = first[1:] if first.startswith(" ") else first
            start = self.i
            data = self.string_data(first, size)
            if data is None:
                self.i = start
        elif vtype in (REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_QWORD) and self.peek().startswith("Data: "):
            number = int(self.take("Data: "))
            width = 8 if vtype == REG_QWORD else 4
            order = "big" if vtype == REG_DWORD_BIG_ENDIAN else "little"
            data = number.to_bytes(width, order)
        if self.peek() == MISMATCH:
            self.i += 1
            data = None
        # A string or number that does not match its size is followed by the raw bytes (with
        # no mismatch line when libregf's expected size is 0, e.g. an empty string).
        if data is not None and size > 0 and self.peek() == "Data:":
            data = None
        if raw_dump:
            data = self.hexdump(size)
        elif data is None or len(data) != size:
            if size == 0:
                data = b""
            else:
                self.take("Data:")
                data = self.hexdump(size)
        return {"name": name, "type": vtype, "data": data.hex()}

    def parse(self):
        self.take("regfexport ")
        self.skip_blank()
        stack = []  # (path, node)
        root = None
        while self.peek() is not None:
            self.skip_blank()
            if self.peek() is None:
                break
            path = self.take("Key path: ")
            name = self.take("Key: ")
            node = {"name": name, "values": [], "subkeys": []}
            if self.peek() is not None and self.peek().startswith("Class name: "):
                self.i += 1
            while self.peek() is not None and self.peek().startswith("Value: "):
                node["values"].append(self.value())
                self.skip_blank()
            if root is None:
                if path != name:
                    self.fail("the root key path to equal its name")
                root = node
            else:
                while stack and stack[-1][0] + "\\" + name != path:
                    stack.pop()
                if not stack:
                    self.fail("a key path below an exported key")
                stack[-1][1]["subkeys"].append(node)
            stack.append((path, node))
        if root is None:
            self.fail("a root key")
        return root


def dump_libregf(path):
    # Into a file, not a pipe: regfexport writes in small pieces, and reading them from a pipe
    # costs more than the export itself.
    with tempfile.TemporaryFile() as out:
        subprocess.run(["regfexport", path], check=True, stdout=out, stderr=subprocess.PIPE)
        out.seek(0)
        text = out.read().decode("utf-8", errors="surrogateescape")
    return RegfexportParser(text).parse()


READERS = {"regipy": dump_regipy, "dissect": dump_dissect, "hivex": dump_hivex, "libregf": dump_libregf}


def main(argv):
    if len(argv) < 3 or argv[1] not in READERS:
        sys.stderr.write("usage: hive_dump.py {%s} HIVE [HIVE...]\n" % "|".join(READERS))
        return 2
    sys.setrecursionlimit(10000)
    for path in argv[2:]:
        try:
            tree = canonical(READERS[argv[1]](path))
        except SystemExit as e:
            raise SystemExit("%s: %s" % (path, e))
        sys.stdout.write(json.dumps(tree, ensure_ascii=True))
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
