//! The census in the patch: which GUIDs to look for (the store's old base GUID, and in an
//! apply the new one), which columns the patch covers (the profile's), and the places it would
//! leave the old base GUID in. `inspect` and `plan` run the census in discovery; `apply` runs
//! it in its own pass, on the pages it reads and on the pages it writes.

use crate::ese::btree::Database;
use crate::ese::catalog::Catalog;
use crate::ese::census::{census, CensusReport, Matcher, Needle};
use crate::exchange::guid::Guid;
use crate::exchange::store::StoreLayout;
use serde::{Deserialize, Serialize};

/// The label of the old base GUID in a census.
pub const OLD: &str = "old";
/// The label of the new base GUID.
pub const NEW: &str = "new";

/// A column outside the profile that holds the old base GUID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncovered {
    pub table: String,
    pub column: String,
    pub records: u64,
}

impl Uncovered {
    /// `TABLE.COLUMN`, as `--allow-uncovered` names it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }
}

/// The census before and after a patch of one store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusPair {
    pub before: CensusReport,
    pub after: CensusReport,
}

/// The needles: the old base GUID, and the new one when given.
pub fn needles(old: &Guid, new: Option<&Guid>) -> Vec<Needle> {
    let mut v = vec![Needle {
        label: OLD.into(),
        bytes: old.to_windows_bytes(),
    }];
    if let Some(n) = new {
        v.push(Needle {
            label: NEW.into(),
            bytes: n.to_windows_bytes(),
        });
    }
    v
}

/// The columns the patch rewrites: (table, column).
pub fn covered(layout: &StoreLayout) -> Vec<(String, String)> {
    let mut v = vec![(
        layout.globals.base_guid.table.clone(),
        layout.globals.base_guid.column.clone(),
    )];
    for t in &layout.guid_tables {
        v.push((t.guid.table.clone(), t.guid.column.clone()));
    }
    v
}

/// Whether `table.column` is one the patch rewrites.
pub fn is_covered(layout: &StoreLayout, table: &str, column: &str) -> bool {
    covered(layout)
        .iter()
        .any(|(t, c)| t == table && c == column)
}

/// Every column outside the profile's that holds the old base GUID.
pub fn uncovered(report: &CensusReport, layout: &StoreLayout) -> Vec<Uncovered> {
    report
        .columns
        .iter()
        .filter(|c| c.needle == OLD && c.records > 0 && !is_covered(layout, &c.table, &c.column))
        .map(|c| Uncovered {
            table: c.table.clone(),
            column: c.column.clone(),
            records: c.records,
        })
        .collect()
}

/// `1,204`.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1 row`, `1,204 rows`.
pub fn rows(n: u64) -> String {
    format!("{} row{}", grouped(n), if n == 1 { "" } else { "s" })
}

/// The problems (not allowed) and warnings (allowed by `--allow-uncovered`) of a store's
/// uncovered places; `rel` names the database.
pub fn judge(rel: &str, uncovered: &[Uncovered], allow: &[String]) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for u in uncovered {
        let name = u.name();
        if allow.iter().any(|a| a.eq_ignore_ascii_case(&name)) {
            warnings.push(format!(
                "{rel}: the old base GUID stays in {name} ({}), allowed by --allow-uncovered: \
                 the patched store will hold both GUIDs",
                rows(u.records)
            ));
        } else {
            problems.push(format!(
                "{rel}: the patch would leave the old base GUID in {name}, {}: a column the \
                 store model does not rewrite. Check what it holds; to patch anyway, name it \
                 with --allow-uncovered {name}",
                rows(u.records)
            ));
        }
    }
    (problems, warnings)
}

/// Raw occurrences of the old base GUID that are not column values, as notes: dead space
/// (free space, unused pages) is harmless; anything else is worth a look.
pub fn raw_notes(rel: &str, report: &CensusReport) -> Vec<String> {
    report
        .raw
        .iter()
        .filter(|r| r.needle == OLD)
        .map(|r| {
            let place = serde_json::to_value(r.place)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_default();
            format!(
                "{rel}: the old base GUID appears {} time{} in {place} of {}{}",
                grouped(r.count),
                if r.count == 1 { "" } else { "s" },
                r.owner,
                if r.place.is_dead_space() {
                    " (no reader sees it; left as it is)"
                } else {
                    " (not a column value)"
                }
            )
        })
        .collect()
}

/// Why `census FILE` could not run.
#[derive(Debug, thiserror::Error)]
pub enum CensusError {
    #[error("{}: {source}", path.display())]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {what}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        what: String,
    },
    #[error(
        "{}: no --guid given and the store's base GUID cannot be read ({what}); give --guid",
        path.display()
    )]
    NoBaseGuid {
        path: std::path::PathBuf,
        what: String,
    },
}

/// A GUID looked for and the label its occurrences carry.
#[derive(Clone, Debug, Serialize)]
pub struct GuidLabel {
    pub label: String,
    pub guid: String,
}

/// What `census FILE` found.
#[derive(Clone, Debug, Serialize)]
pub struct FileCensus {
    pub file: String,
    /// The GUIDs looked for.
    pub guids: Vec<GuidLabel>,
    #[serde(flatten)]
    pub report: CensusReport,
}

/// The census of one database file for `guids`, or, when none is given, for the store's base
/// GUID as the store model finds it in `Globals`. `progress(done, total)` in bytes.
pub fn census_file(
    path: &std::path::Path,
    guids: &[Guid],
    profile: &crate::exchange::Profile,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<FileCensus, CensusError> {
    let map = crate::image::MappedFile::open(path).map_err(|e| CensusError::Open {
        path: e.path,
        source: e.source,
    })?;
    let bytes = map.bytes();
    let unreadable = |what: String| CensusError::Unreadable {
        path: path.to_path_buf(),
        what,
    };
    let db = Database::open(bytes).map_err(|e| unreadable(e.to_string()))?;
    let catalog =
        Catalog::read(&db).map_err(|e| unreadable(format!("cannot read the catalog: {e}")))?;
    let guids: Vec<(String, Guid)> = if guids.is_empty() {
        let mut why = Vec::new();
        let mut found = None;
        for kind in crate::exchange::StoreKind::ALL {
            match StoreLayout::resolve(&catalog, kind, profile) {
                Ok(l) => match crate::exchange::store::read_globals(&db, &catalog, &l.globals) {
                    Ok(Ok(g)) => {
                        found = Some(g.base_guid);
                        break;
                    }
                    Ok(Err(p)) => why.push(p),
                    Err(e) => why.push(e.to_string()),
                },
                Err(ps) => why.extend(ps),
            }
        }
        let g = found.ok_or_else(|| CensusError::NoBaseGuid {
            path: path.to_path_buf(),
            what: why.first().cloned().unwrap_or_default(),
        })?;
        vec![(OLD.to_string(), g)]
    } else {
        guids.iter().map(|g| (g.to_string(), *g)).collect()
    };
    let needles: Vec<Needle> = guids
        .iter()
        .map(|(label, g)| Needle {
            label: label.clone(),
            bytes: g.to_windows_bytes(),
        })
        .collect();
    map.advise_sequential();
    let total = bytes.len() as u64;
    let report = census(&db, &catalog, &Matcher::new(&needles), &|done| {
        progress(done, total)
    })
    .map_err(|e| unreadable(e.to_string()))?;
    Ok(FileCensus {
        file: path.display().to_string(),
        guids: guids
            .iter()
            .map(|(l, g)| GuidLabel {
                label: l.clone(),
                guid: g.to_string(),
            })
            .collect(),
        report,
    })
}

impl FileCensus {
    /// The report for people: table → column → records, a few primary keys, then raw bytes.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{}: {} pages searched, {} with an occurrence",
            self.file, self.report.pages, self.report.pages_with_hits
        );
        for GuidLabel { label, guid } in &self.guids {
            let name = if label == OLD {
                format!("{guid} (the store's base GUID)")
            } else {
                guid.clone()
            };
            let _ = writeln!(o, "{name}:");
            let cols: Vec<_> = self
                .report
                .columns
                .iter()
                .filter(|c| &c.needle == label)
                .collect();
            let raw: Vec<_> = self
                .report
                .raw
                .iter()
                .filter(|r| &r.needle == label)
                .collect();
            if cols.is_empty() && raw.is_empty() {
                let _ = writeln!(o, "  nowhere");
            }
            for c in cols {
                let forms: Vec<String> = c
                    .forms
                    .iter()
                    .map(|(f, n)| {
                        let f = serde_json::to_value(f)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default();
                        format!("{f} {}", grouped(*n))
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "  {}.{}: {} ({}); keys {}",
                    c.table,
                    c.column,
                    rows(c.records),
                    forms.join(", "),
                    c.samples.join(", ")
                );
            }
            for r in raw {
                let place = serde_json::to_value(r.place)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                    .unwrap_or_default();
                let _ = writeln!(o, "  raw, {place} of {}: {}", r.owner, grouped(r.count));
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_numbers() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1204), "1,204");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(rows(1), "1 row");
        assert_eq!(rows(1204), "1,204 rows");
    }

    #[test]
    fn allowed_places_are_warnings_and_the_rest_problems() {
        let u = vec![
            Uncovered {
                table: "Attach".into(),
                column: "SourceGuid".into(),
                records: 1204,
            },
            Uncovered {
                table: "Notes".into(),
                column: "Text".into(),
                records: 1,
            },
        ];
        let (p, w) = judge("E/PRIV.EDB", &u, &["attach.sourceguid".into()]);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("Notes.Text, 1 row"), "{}", p[0]);
        assert!(p[0].contains("--allow-uncovered Notes.Text"), "{}", p[0]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("Attach.SourceGuid (1,204 rows)"), "{}", w[0]);
    }
}
