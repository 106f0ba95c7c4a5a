//! The case file, `report.html`: the record of an `apply` for people — summary, warnings, each
//! store's GUIDs, rows and page map, the registry diff, and the files with their SHA-256 and
//! the commands that check them. One self-contained page: inline CSS and SVG, no script, no
//! reference to anything outside it. Made from `report.json` alone (the page maps are in it),
//! so the same report gives the same bytes.

use crate::manifest::pagemap::{PageClass, PageMap};
use crate::manifest::report::{RegistryEditReport, Report, StoreReport};
use crate::manifest::sums::FileDigest;
use std::fmt::Write as _;

/// The case file's name in an `apply --out` directory (`FILE.report.html` beside a journal).
pub const CASE_FILE: &str = "report.html";

/// The names of the files the case file sits beside and refers to.
#[derive(Clone, Debug)]
pub struct Beside {
    /// The outputs' manifest.
    pub sums: String,
    /// The inputs' manifest.
    pub sums_input: String,
    /// The journal of an in-place apply (its file name).
    pub journal: Option<String>,
}

impl Beside {
    /// The files of an `apply --out` directory.
    pub fn out_dir() -> Beside {
        Beside {
            sums: "SHA256SUMS".into(),
            sums_input: "SHA256SUMS.input".into(),
            journal: None,
        }
    }

    /// The files beside the journal `name` of an in-place apply.
    pub fn journal(name: &str) -> Beside {
        Beside {
            sums: format!("{name}.SHA256SUMS"),
            sums_input: format!("{name}.SHA256SUMS.input"),
            journal: Some(name.to_string()),
        }
    }
}

/// Grid of the page map: cells per row and cell pitch in pixels.
const COLUMNS: u64 = 64;
const PITCH: u64 = 9;

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
color:#1f2328;margin:0 auto;max-width:1100px;padding:24px 32px 48px;background:#fff}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #d0d7de;\
padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}\
.sub{color:#57606a;margin:0 0 16px}\
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid #d0d7de;padding:3px 8px;\
text-align:left;vertical-align:top}th{background:#f6f8fa;font-weight:600}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
code,.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12.5px}\
.hash{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11.5px;word-break:break-all}\
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:8px 10px;overflow-x:auto;white-space:pre-wrap;\
word-break:break-all}\
.outcome{display:inline-block;padding:2px 10px;border-radius:12px;background:#dafbe1;color:#116329;\
font-weight:600}\
.warn{border:2px solid #cf222e;background:#ffebe9;padding:8px 16px;margin:16px 0;border-radius:6px}\
.warn h2{border:none;margin:4px 0;color:#a40e26}.warn li{margin:4px 0}\
.ok{border:1px solid #1a7f37;background:#dafbe1;padding:6px 16px;border-radius:6px}\
.old{color:#a40e26}.new{color:#116329}\
.legend{list-style:none;padding:0;margin:4px 0 8px}.legend li{display:inline-block;margin-right:20px}\
.sw{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;\
border:1px solid #8c959f}\
rect.u,.sw.u{fill:#e6e9ed;background:#e6e9ed}rect.h,.sw.h{fill:#1f6feb;background:#1f6feb}\
rect.r,.sw.r{fill:#e8590c;background:#e8590c}\
svg text{font:10px system-ui,'DejaVu Sans',sans-serif;fill:#24292f}\
rect.band{fill:#f6f8fa;stroke:#afb8c1;stroke-width:.5}rect.band.alt{fill:#eaeef2}\
footer{margin-top:40px;color:#57606a;font-size:12.5px}";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters cannot appear in HTML text: shown as their code point.
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "U+{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A number with thousands separated: 3,145,728.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size for people: "12.0 GiB (12,884,901,888 bytes)".
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return crate::text::count(bytes, "byte", "bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {} ({} bytes)", UNITS[unit], grouped(bytes))
}

/// A word quoted for a POSIX shell.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@%,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The case file of `report`.
pub fn render(report: &Report, beside: &Beside) -> String {
    let mut h = String::with_capacity(64 << 10);
    let server = esc(&report.target_server_name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>coldpatch case file: {server}, {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&report.patch_time)
    );
    summary(&mut h, report, beside);
    warnings(&mut h, report);
    for s in &report.stores {
        store(&mut h, s);
    }
    registry(&mut h, &report.registry_edits);
    files(&mut h, report, beside);
    let _ = write!(
        h,
        "<footer>Written by {} with the report (report.json); <code>coldpatch report</code> \
         writes this page again from report.json and the audit log, byte for byte.</footer>\n\
         </body>\n</html>\n",
        esc(&report.tool_version)
    );
    h
}

fn summary(h: &mut String, r: &Report, beside: &Beside) {
    let _ = write!(
        h,
        "<h1>Exchange 5.5 store patched for server {}</h1>\n\
         <p class=\"sub\">The record of <code>coldpatch apply</code>: new base GUIDs, every \
         object and the replication state rewritten, the server name set, with the registry \
         edits that go with them.</p>\n<table class=\"summary\">\n",
        esc(&r.target_server_name)
    );
    let row = |h: &mut String, k: &str, v: &str| {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    let mut volumes = String::new();
    for v in &r.volumes {
        let _ = write!(
            volumes,
            "{}<code>{}:</code> {}",
            if volumes.is_empty() { "" } else { "<br>" },
            esc(&v.letter),
            esc(&v.path)
        );
    }
    row(h, "Image", &volumes);
    row(
        h,
        "Target server name",
        &format!(
            "<b>{}</b> (from the {})",
            esc(&r.target_server_name),
            esc(&r.target_server_name_source)
        ),
    );
    row(h, "When", &esc(&r.patch_time));
    row(h, "Tool", &esc(&r.tool_version));
    let mode = match &beside.journal {
        Some(j) => format!(
            "in place, behind the undo journal <code>{}</code> (<code>coldpatch undo {}</code> \
             puts every original byte back)",
            esc(j),
            esc(&shell_quote(j))
        ),
        None => "patched copies in this directory; the image was only read".into(),
    };
    row(h, "Mode", &mode);
    let pages: u64 = r.stores.iter().map(|s| s.pages_changed).sum();
    let outcome = format!(
        "<span class=\"outcome\">patched</span> {}, {} of {} changed, {}; audit log: {}, {}",
        crate::text::count(r.outputs.len() as u64, "file written", "files written"),
        crate::text::count(pages, "page", "pages"),
        crate::text::count(r.stores.len() as u64, "database", "databases"),
        crate::text::count(
            r.registry_edits.len() as u64,
            "registry value set",
            "registry values set"
        ),
        crate::text::count(r.audit_entries, "entry", "entries"),
        crate::text::count(r.audit_bytes, "byte changed", "bytes changed"),
    );
    row(h, "Outcome", &outcome);
    h.push_str("</table>\n");
}

fn warnings(h: &mut String, r: &Report) {
    if r.warnings.is_empty() {
        h.push_str("<p class=\"ok\" id=\"warnings\">No warnings.</p>\n");
        return;
    }
    let _ = write!(
        h,
        "<section class=\"warn\" id=\"warnings\">\n<h2>{}</h2>\n<ul>\n",
        esc(&crate::text::count(
            r.warnings.len() as u64,
            "warning",
            "warnings"
        ))
    );
    for w in &r.warnings {
        let _ = writeln!(h, "<li>{}</li>", esc(w));
    }
    h.push_str("</ul>\n</section>\n");
}

fn store(h: &mut String, s: &StoreReport) {
    let _ = write!(
        h,
        "<h2>Store {}: <code>{}</code></h2>\n<table>\n\
         <tr><th></th><th>before</th><th>after</th></tr>\n\
         <tr><th>Base GUID</th><td class=\"mono old\">{}</td><td class=\"mono new\">{}</td></tr>\n\
         <tr><th>Server name</th><td class=\"old\">{}</td><td class=\"new\">{}</td></tr>\n\
         </table>\n<p>File <code>{}</code>; {} changed, stamped with database time {}.</p>\n",
        esc(&s.name),
        esc(&s.windows_path),
        esc(&s.old_base_guid),
        esc(&s.new_base_guid),
        esc(s.old_server_name.as_deref().unwrap_or("(none)")),
        esc(&s.new_server_name),
        esc(&s.path),
        crate::text::count(s.pages_changed, "page", "pages"),
        s.new_dbtime
    );
    h.push_str(
        "<table>\n<tr><th>Table</th><th>rows rewritten</th>\
         <th>rows left alone (other servers' objects)</th></tr>\n",
    );
    for (table, n) in &s.rows_rewritten {
        let foreign = s
            .rows_foreign
            .get(table)
            .map_or("—".to_string(), |f| grouped(*f));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{foreign}</td></tr>",
            esc(table),
            grouped(*n)
        );
    }
    h.push_str("</table>\n");
    if let Some(c) = &s.census {
        let old: u64 = c.before.columns.iter().map(|x| x.records).sum();
        let new: u64 = c.after.columns.iter().map(|x| x.records).sum();
        let _ = writeln!(
            h,
            "<p>Census: the old base GUID was in {} before the patch; the new one is in {} \
             after it.</p>",
            crate::text::count(old, "record", "records"),
            crate::text::count(new, "record", "records"),
        );
    }
    match &s.page_map {
        Some(m) => page_map(h, s, m),
        None => h.push_str("<p>No page map was recorded for this store.</p>\n"),
    }
}

/// A page range in ESE's page numbers (file pages 0 and 1 are the header and its shadow).
fn pages_text(first: u64, last: u64) -> String {
    let pgno = |i: u64| i - 1;
    match (first, last) {
        (_, 0) => "the header page".into(),
        (0 | 1, 1) => "the header pages".into(),
        (0 | 1, l) => format!("the header pages and {}", pages_text(2, l)),
        (f, l) if f == l => format!("page {}", pgno(f)),
        (f, l) => format!("pages {}", crate::text::range(pgno(f), pgno(l))),
    }
}

fn class_key(c: PageClass) -> &'static str {
    match c {
        PageClass::Untouched => "u",
        PageClass::HeaderOnly => "h",
        PageClass::RowsRewritten => "r",
    }
}

fn page_map(h: &mut String, s: &StoreReport, m: &PageMap) {
    let bins = m.bins.len() as u64;
    // Small maps get large cells.
    let (columns, pitch) = if bins <= SMALL_MAP {
        (COLUMNS / 2, 2 * PITCH)
    } else {
        (COLUMNS, PITCH)
    };
    let cell = pitch - 1;
    let row_height = pitch + BAND + ROW_GAP;
    let rows = bins.div_ceil(columns).max(1);
    let width = columns * pitch;
    let height = rows * row_height;
    let per_bin = if m.pages_per_bin == 1 {
        "one cell per page".to_string()
    } else {
        format!(
            "one cell per {} pages, coloured by the most that happened to any of them",
            grouped(m.pages_per_bin)
        )
    };
    let _ = write!(
        h,
        "<h3>Page map of {}</h3>\n<p>{} of {} bytes in file order, left to right and top to \
         bottom, {per_bin}; under each row, the tables most of its pages belong to.</p>\n\
         <ul class=\"legend\">\n",
        esc(&s.path),
        crate::text::count(m.pages, "page", "pages"),
        grouped(u64::from(m.page_size)),
    );
    for (class, n) in [
        (PageClass::RowsRewritten, m.rows_rewritten),
        (PageClass::HeaderOnly, m.header_only),
        (PageClass::Untouched, m.untouched),
    ] {
        let _ = writeln!(
            h,
            "<li><span class=\"sw {k}\"></span>{}: <b data-count=\"{k}\">{}</b> {}</li>",
            class.name(),
            grouped(n),
            if n == 1 { "page" } else { "pages" },
            k = class_key(class),
        );
    }
    let _ = write!(
        h,
        "</ul>\n<svg class=\"pagemap\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" data-pages=\"{}\" \
         data-pages-per-bin=\"{}\" data-rows-rewritten=\"{}\" data-header-only=\"{}\" \
         data-untouched=\"{}\">\n<title>Page map of {}</title>\n",
        m.pages,
        m.pages_per_bin,
        m.rows_rewritten,
        m.header_only,
        m.untouched,
        esc(&s.path)
    );
    for row in 0..rows {
        let first = row * columns;
        let last = (first + columns).min(bins);
        let y = row * row_height;
        // Runs of cells of one class: one rectangle each.
        let mut b = first;
        while b < last {
            let class = m.bin_class(b as usize);
            let mut e = b + 1;
            while e < last && m.bin_class(e as usize) == class {
                e += 1;
            }
            let (p0, _) = m.bin_pages(b);
            let (_, p1) = m.bin_pages(e - 1);
            let _ = writeln!(
                h,
                "<rect class=\"{}\" data-bins=\"{}\" x=\"{}\" y=\"{y}\" width=\"{}\" \
                 height=\"{cell}\"><title>{}: {}</title></rect>",
                class_key(class),
                e - b,
                (b - first) * pitch,
                (e - b) * pitch - 1,
                esc(&pages_text(p0, p1)),
                class.name()
            );
            b = e;
        }
        table_band(h, m, first, last, pitch, y + pitch);
    }
    h.push_str("</svg>\n");
}

/// Cells a map of at most this many bins gets twice as large.
const SMALL_MAP: u64 = 512;
/// The band under each row that names the tables, and the gap below it.
const BAND: u64 = 14;
const ROW_GAP: u64 = 5;
/// About the width of a character of the band's text, in pixels.
const CHAR_WIDTH: u64 = 6;

/// The band under the row of bins `first..last`: a segment per table run, named where the
/// name fits (shortened, or only in the segment's tooltip, where it does not).
fn table_band(h: &mut String, m: &PageMap, first: u64, last: u64, pitch: u64, y: u64) {
    let mut shade = false;
    for run in &m.tables {
        let (a, b) = (
            run.first_bin.max(first),
            (run.first_bin + run.bins).min(last),
        );
        if a >= b {
            continue;
        }
        shade = !shade;
        let x = (a - first) * pitch;
        let w = (b - a) * pitch - 1;
        let (p0, _) = m.bin_pages(a);
        let (_, p1) = m.bin_pages(b - 1);
        let _ = write!(
            h,
            "<g class=\"table\"><title>{}: {}</title><rect class=\"band{}\" x=\"{x}\" y=\"{y}\" \
             width=\"{w}\" height=\"{}\"/>",
            esc(&run.table),
            esc(&pages_text(p0, p1)),
            if shade { " alt" } else { "" },
            BAND - 2
        );
        let room = (w.saturating_sub(4) / CHAR_WIDTH) as usize;
        let chars = run.table.chars().count();
        let label = if chars <= room {
            run.table.clone()
        } else if room >= 3 {
            let mut t: String = run.table.chars().take(room - 1).collect();
            t.push('…');
            t
        } else {
            String::new()
        };
        if !label.is_empty() {
            let _ = write!(
                h,
                "<text x=\"{}\" y=\"{}\">{}</text>",
                x + 2,
                y + BAND - 4,
                esc(&label)
            );
        }
        h.push_str("</g>\n");
    }
}

fn registry(h: &mut String, edits: &[RegistryEditReport]) {
    h.push_str("<h2>Registry</h2>\n");
    if edits.is_empty() {
        h.push_str("<p>No registry value was changed.</p>\n");
        return;
    }
    let mut files: Vec<&str> = Vec::new();
    for e in edits {
        if !files.contains(&e.file.as_str()) {
            files.push(&e.file);
        }
    }
    for file in files {
        let _ = write!(
            h,
            "<h3><code>{}</code></h3>\n<table class=\"registry\">\n<tr><th>Key</th><th>Value</th>\
             <th>Type</th><th>Old</th><th>New</th></tr>\n",
            esc(file)
        );
        for e in edits.iter().filter(|e| e.file == file) {
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td>\
                 <td class=\"mono old\">{}</td><td class=\"mono new\">{}</td></tr>",
                esc(&e.key),
                esc(&e.value),
                esc(&e.kind),
                e.old.as_deref().map_or("(absent)".to_string(), esc),
                esc(&e.new)
            );
        }
        h.push_str("</table>\n");
    }
}

fn digest_table(h: &mut String, title: &str, files: &[FileDigest]) {
    let _ = write!(
        h,
        "<h3>{title}</h3>\n<table class=\"files\">\n<tr><th>File</th><th>Size</th>\
         <th>SHA-256</th></tr>\n"
    );
    for f in files {
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"hash\">{}</td></tr>",
            esc(&f.path),
            esc(&size_text(f.size)),
            esc(&f.sha256)
        );
    }
    h.push_str("</table>\n");
}

/// A shell command that runs `check` (a command reading paths relative to the image) in a
/// directory that holds the image's volumes under their letters: the image directory itself
/// when every volume is one of its letter subdirectories, else a new one of links.
fn in_image(r: &Report, check: &str) -> String {
    let parent = |v: &crate::manifest::report::VolumeReport| {
        let p = std::path::Path::new(&v.path);
        (p.file_name()?.to_str()? == v.letter)
            .then(|| p.parent().map(|d| d.display().to_string()))?
    };
    let parents: Vec<Option<String>> = r.volumes.iter().map(parent).collect();
    if let Some(Some(first)) = parents.first() {
        if parents.iter().all(|p| p.as_deref() == Some(first)) {
            return format!("(cd {} && {check})", shell_quote(first));
        }
    }
    let mut cmd = "d=$(mktemp -d) && ".to_string();
    for v in &r.volumes {
        let _ = write!(
            cmd,
            "ln -s {} \"$d\"/{} && ",
            shell_quote(&v.path),
            shell_quote(&v.letter)
        );
    }
    let _ = write!(cmd, "(cd \"$d\" && {check})");
    cmd
}

fn files(h: &mut String, r: &Report, beside: &Beside) {
    h.push_str("<h2>Files</h2>\n");
    digest_table(h, "Inputs, as the run read them", &r.inputs);
    digest_table(
        h,
        match beside.journal {
            Some(_) => "Outputs: the image's files as the run left them",
            None => "Outputs: the patched copies in this directory",
        },
        &r.outputs,
    );
    let sums = shell_quote(&beside.sums);
    let sums_input = format!("\"$OLDPWD\"/{}", shell_quote(&beside.sums_input));
    h.push_str("<h3>Checking them</h3>\n<p>In the directory of this file:</p>\n<pre>");
    match &beside.journal {
        None => {
            let _ = writeln!(h, "{}", esc(&format!("sha256sum -c {sums}")));
            let _ = write!(
                h,
                "{}</pre>\n<p>The first line checks the copies, the second that the image \
                 still holds the inputs the run read.</p>\n",
                esc(&in_image(r, &format!("sha256sum -c {sums_input}")))
            );
        }
        Some(j) => {
            let _ = write!(
                h,
                "{}\n# after coldpatch undo {}:\n{}</pre>\n<p>The first line checks the image \
                 as patched; after an undo the second checks it is as it was.</p>\n",
                esc(&in_image(r, &format!("sha256sum -c \"$OLDPWD\"/{sums}"))),
                esc(&shell_quote(j)),
                esc(&in_image(r, &format!("sha256sum -c {sums_input}")))
            );
        }
    }
}

/// Checks a report's page maps and audit counts against its audit log's entries (read once):
/// `Err` says where they disagree. The page classes of every store are rebuilt from the log
/// ([`ClassesFromAudit`]) and must equal the ones the pass recorded.
pub fn check_against_audit(
    report: &Report,
    places: impl Iterator<Item = std::io::Result<crate::manifest::audit::AuditPlace>>,
) -> Result<(), CheckError> {
    use crate::manifest::pagemap::ClassesFromAudit;
    let mut classes: Vec<(usize, ClassesFromAudit)> = report
        .stores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let m = s.page_map.as_ref()?;
            Some((i, ClassesFromAudit::new(&s.path, m.page_size, m.pages)))
        })
        .collect();
    let (mut entries, mut bytes) = (0u64, 0u64);
    for p in places {
        let p = p.map_err(CheckError::Unreadable)?;
        entries += 1;
        bytes += p.length;
        for (_, c) in &mut classes {
            c.entry(&p.file, p.offset, &p.why);
        }
    }
    if (entries, bytes) != (report.audit_entries, report.audit_bytes) {
        return Err(CheckError::Disagree(format!(
            "the audit log holds {} and {}, report.json says {} and {}",
            crate::text::count(entries, "entry", "entries"),
            crate::text::count(bytes, "changed byte", "changed bytes"),
            crate::text::count(report.audit_entries, "entry", "entries"),
            crate::text::count(report.audit_bytes, "changed byte", "changed bytes"),
        )));
    }
    for (i, c) in classes {
        let s = &report.stores[i];
        let got = c.finish().map_err(CheckError::Disagree)?;
        let Some(want) = &s.page_map else { continue };
        let counts = |m: &PageMap| (m.rows_rewritten, m.header_only, m.untouched);
        if counts(&got) != counts(want) || got.bins != want.bins {
            let bin = got
                .bins
                .bytes()
                .zip(want.bins.bytes())
                .position(|(a, b)| a != b)
                .map_or(String::new(), |b| format!("; they differ first at bin {b}"));
            return Err(CheckError::Disagree(format!(
                "{}: the audit log gives {} rows-rewritten, {} header-only and {} untouched \
                 pages, report.json's page map {}, {} and {}{bin}",
                s.path,
                got.rows_rewritten,
                got.header_only,
                got.untouched,
                want.rows_rewritten,
                want.header_only,
                want.untouched
            )));
        }
    }
    Ok(())
}

/// Why [`check_against_audit`] failed.
#[derive(Debug)]
pub enum CheckError {
    /// The log could not be read or a line did not parse.
    Unreadable(std::io::Error),
    /// The log and the report do not tell the same story.
    Disagree(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_grouped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;U+0001"
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(12_884_901_888), "12,884,901,888");
        assert_eq!(size_text(1), "1 byte");
        assert_eq!(size_text(270_336), "264.0 KiB (270,336 bytes)");
        assert_eq!(shell_quote("/mnt/img"), "/mnt/img");
        assert_eq!(shell_quote("it's here"), "'it'\\''s here'");
    }

    #[test]
    fn page_ranges_name_the_header_pages() {
        assert_eq!(pages_text(0, 0), "the header page");
        assert_eq!(pages_text(0, 1), "the header pages");
        assert_eq!(pages_text(0, 9), "the header pages and pages 1 to 8");
        assert_eq!(pages_text(1, 2), "the header pages and page 1");
        assert_eq!(pages_text(5, 5), "page 4");
        assert_eq!(pages_text(5, 9), "pages 4 to 8");
    }
}
