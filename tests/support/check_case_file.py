"""Checks a coldpatch case file (report.html) against its report.json and audit log.

Usage: check_case_file.py REPORT_HTML REPORT_JSON AUDIT_ZST [SCREENSHOT_PNG]

* the HTML parses without a single parse error (html5lib, strict);
* nothing in it refers outside the file: no "http:", "https:", "//" or "src=";
* every changed registry value is named (its key, value name, old and new text);
* every warning is shown;
* each store's page map: the legend's and the picture's counts equal report.json's page
  map, and the page classes rebuilt here from the audit log (zstd -dc) equal both;
* the screenshot, when given, is a real page: a PNG of the expected size range, not blank,
  with the colours of the page map in it.
Prints what it checked; exits 1 with the reason on the first failure.
"""
import json
import subprocess
import sys

import html5lib
from PIL import Image

HTML_NS = "{http://www.w3.org/1999/xhtml}"
SVG_NS = "{http://www.w3.org/2000/svg}"
STAMPS = {"page dbtime", "page checksum"}


def fail(why):
    print("case file check failed: " + why, file=sys.stderr)
    sys.exit(1)


def text_of(el):
    return "".join(el.itertext())


def classes_from_audit(audit_path, stores):
    """File page index -> strongest class ('r' > 'h') per store path, from the log alone."""
    text = subprocess.run(["zstd", "-dc", audit_path], check=True, capture_output=True).stdout
    classes = {s["path"]: {} for s in stores}
    sizes = {s["path"]: s["page_map"]["page_size"] for s in stores}
    for line in text.decode("utf-8").splitlines():
        e = json.loads(line)
        if e["file"] not in classes:
            continue
        index = e["offset"] // sizes[e["file"]]
        c = "h" if index < 2 or e["why"] in STAMPS else "r"
        pages = classes[e["file"]]
        if pages.get(index) != "r":
            pages[index] = c
    return classes


def main():
    html_path, json_path, audit_path = sys.argv[1:4]
    png_path = sys.argv[4] if len(sys.argv) > 4 else None
    raw = open(html_path, "rb").read()
    text = raw.decode("utf-8")
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    try:
        doc = parser.parse(text)
    except html5lib.html5parser.ParseError as e:
        fail(f"HTML parse error: {e}")
    for needle in ("http:", "https:", "//", "src="):
        if needle in text:
            at = text.index(needle)
            fail(f"outside reference {needle!r} at character {at}: {text[max(0, at - 60):at + 60]!r}")

    report = json.load(open(json_path))
    body = text_of(doc)
    for e in report["registry_edits"]:
        for part in (e["key"], e["value"], e["new"], e["old"] or "(absent)", e["file"]):
            if part not in body:
                fail(f"registry edit not named: {part!r} ({e['file']} {e['key']} {e['value']})")
    for w in report["warnings"]:
        if w not in body:
            fail(f"warning not shown: {w!r}")

    svgs = doc.findall(f".//{HTML_NS}svg") + doc.findall(f".//{SVG_NS}svg")
    legends = [el for el in doc.iter() if el.get("data-count")]
    stores = [s for s in report["stores"] if s.get("page_map")]
    if len(svgs) != len(stores):
        fail(f"{len(svgs)} page maps for {len(stores)} stores")
    from_log = classes_from_audit(audit_path, stores)
    for i, (store, svg) in enumerate(zip(stores, svgs)):
        m = store["page_map"]
        want = {"r": m["rows_rewritten"], "h": m["header_only"], "u": m["untouched"]}
        log_pages = from_log[store["path"]]
        got_log = {
            "r": sum(1 for c in log_pages.values() if c == "r"),
            "h": sum(1 for c in log_pages.values() if c == "h"),
        }
        got_log["u"] = m["pages"] - got_log["r"] - got_log["h"]
        if got_log != want:
            fail(f"{store['path']}: the audit log gives {got_log}, report.json {want}")
        attrs = {
            "r": int(svg.get("data-rows-rewritten")),
            "h": int(svg.get("data-header-only")),
            "u": int(svg.get("data-untouched")),
        }
        if attrs != want:
            fail(f"{store['path']}: the picture says {attrs}, report.json {want}")
        legend = {el.get("data-count"): int(text_of(el).replace(",", "")) for el in legends[3 * i:3 * i + 3]}
        if legend != want:
            fail(f"{store['path']}: the legend says {legend}, report.json {want}")
        # The cells drawn: bins per class, against the bins the audit log gives.
        per_bin = m["pages_per_bin"]
        bins = -(-m["pages"] // per_bin)
        log_bins = ["u"] * bins
        rank = {"u": 0, "h": 1, "r": 2}
        for index, c in log_pages.items():
            b = index // per_bin
            if rank[c] > rank[log_bins[b]]:
                log_bins[b] = c
        drawn = {"r": 0, "h": 0, "u": 0}
        for rect in svg.iter():
            if rect.tag.endswith("rect") and rect.get("class") in drawn:
                drawn[rect.get("class")] += int(rect.get("data-bins"))
        want_bins = {c: log_bins.count(c) for c in "rhu"}
        if drawn != want_bins:
            fail(f"{store['path']}: cells drawn per class {drawn}, the audit log's bins {want_bins}")
        print(f"{store['path']}: {want} pages; cells {drawn} agree with the audit log")

    if png_path:
        img = Image.open(png_path).convert("RGB")
        w, h = img.size
        if not (800 <= w <= 4000 and 600 <= h <= 20000):
            fail(f"screenshot size {w}x{h} out of range")
        small = img.resize((w // 4, h // 4))
        raw_small = small.tobytes()
        pixels = [tuple(raw_small[i:i + 3]) for i in range(0, len(raw_small), 3)]
        white = sum(1 for p in pixels if min(p) > 245)
        if white > 0.97 * len(pixels):
            fail(f"screenshot is blank ({white} of {len(pixels)} pixels white)")
        colours = set(pixels)
        if len(colours) < 50:
            fail(f"screenshot has only {len(colours)} colours")
        raw = img.tobytes()
        orange = sum(
            1 for i in range(0, len(raw), 3) if raw[i] > 200 and 70 < raw[i + 1] < 110 and raw[i + 2] < 40
        )
        if orange < 50:
            fail(f"screenshot shows no rows-rewritten cells ({orange} orange pixels)")
        print(f"screenshot {w}x{h}: {len(colours)} colours, {orange} orange pixels")
    print("case file ok")


main()
