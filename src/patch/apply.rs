//! `apply`: the plan carried out. `--out DIR` writes patched copies of the files it changes
//! under `DIR/<drive>/<path>`, then `SHA256SUMS.input`, `report.json`, `audit.jsonl.zst` and
//! `SHA256SUMS` (last: its presence means the run finished). Every output is written under a
//! temporary name in its final directory, fsynced, and renamed only when every database and
//! hive has been patched; a refusal or failure on the way drops every temporary file.

use crate::ese::btree::Database;
use crate::ese::catalog::Catalog;
use crate::ese::census::{resolve_long_values, Matcher, Owners};
use crate::ese::patch::{FixedField, PagePlan, RowEdit, TableEdits};
use crate::ese::verify::LeafCheck;
use crate::exchange::store::{FixedCol, StoreLayout};
use crate::image::guard::{lock_dirs, DirLocks, LockError};
use crate::image::write::{
    is_out_of_space, reason, sync_dir as fsync_dir, Cache, OutFile, WriteError,
};
use crate::manifest::audit::{AuditWriter, AUDIT_FILE};
use crate::manifest::report::{RegistryEditReport, Report, StoreReport, VolumeReport};
use crate::manifest::sums::{manifest, sha256_hex, FileDigest};
use crate::patch::census;
use crate::patch::discover::{HiveFile, Installation, StoreFile};
use crate::patch::hives::{apply_edits, range_reason, type_name};
use crate::patch::plan::{Plan, StorePlan};
use crate::patch::stream::{
    max_page_dbtime, stream_database, CensusScan, ChangeSink, NoOutput, PassError, PassResult,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Why an apply did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Refused: nothing was written (exit 1).
    #[error("{0}")]
    Refused(String),
    /// Bad arguments (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A write failed (exit 3).
    #[error("{0}")]
    Write(String),
}

/// Progress of the long passes: called with (what, bytes done, bytes in all).
pub type Progress<'a> = &'a dyn Fn(&str, u64, u64);

/// The ESE edits of one store: `Globals` set, own rows given the new GUID (and the
/// replication table's counter reset).
pub fn page_plan(
    layout: &StoreLayout,
    sp: &StorePlan,
    time_ole: f64,
    dbtime: u64,
    revision: u32,
) -> PagePlan {
    let field = |c: &FixedCol| FixedField {
        fid: c.fid,
        offset: c.offset,
        size: c.size,
    };
    let g = &layout.globals;
    let globals = TableEdits {
        objid: g.objid,
        name: g.table.clone(),
        column_names: column_names(&[
            &g.key,
            &g.base_guid,
            &g.patch_state,
            &g.patch_count,
            &g.patch_time,
        ]),
        row_key: Some(field(&g.key)),
        edits: vec![RowEdit::SetAll {
            fixed: vec![
                (
                    field(&g.base_guid),
                    sp.new_base_guid.to_windows_bytes().to_vec(),
                ),
                (field(&g.patch_state), 0i32.to_le_bytes().to_vec()),
                (
                    field(&g.patch_count),
                    sp.new_patch_count.to_le_bytes().to_vec(),
                ),
                (field(&g.patch_time), time_ole.to_le_bytes().to_vec()),
            ],
            variable: vec![(g.server_name.fid, Some(cp1252_bytes(&sp.new_server_name)))],
        }],
    };
    let mut tables = vec![globals];
    for t in &layout.guid_tables {
        let mut cols: Vec<&FixedCol> = vec![&t.key, &t.guid];
        cols.extend(&t.reset);
        tables.push(TableEdits {
            objid: t.objid,
            name: t.table.clone(),
            column_names: column_names(&cols),
            row_key: Some(field(&t.key)),
            edits: vec![RowEdit::ReplaceWhere {
                field: field(&t.guid),
                old: sp.old_base_guid.to_windows_bytes().to_vec(),
                new: sp.new_base_guid.to_windows_bytes().to_vec(),
                also: t
                    .reset
                    .iter()
                    .map(|c| (field(c), vec![0u8; c.size]))
                    .collect(),
            }],
        });
    }
    PagePlan {
        tables,
        dbtime,
        revision,
    }
}

fn column_names(cols: &[&FixedCol]) -> BTreeMap<u16, String> {
    cols.iter().map(|c| (c.fid, c.column.clone())).collect()
}

/// A server name in code page 1252 (validated ASCII, so byte for char).
fn cp1252_bytes(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| crate::regf::regfile::cp1252_byte(c).unwrap_or(b'?'))
        .collect()
}

/// The audit log as a [`ChangeSink`], rewindable to a mark (a database pass run again).
pub struct AuditSink {
    writer: AuditWriter<File>,
}

/// A change sink that a database pass run again (above a higher dbtime) cuts back to where
/// the first run began.
pub trait Rewind: ChangeSink {
    /// What the sink records, for messages.
    const WHAT: &'static str;
    type Mark;
    /// Where the sink stands now.
    fn mark(&mut self) -> std::io::Result<Self::Mark>;
    /// Drops everything recorded after `mark`.
    fn rewind(&mut self, mark: Self::Mark) -> std::io::Result<()>;
}

impl AuditSink {
    pub fn new(writer: AuditWriter<File>) -> AuditSink {
        AuditSink { writer }
    }

    pub fn into_writer(self) -> AuditWriter<File> {
        self.writer
    }
}

impl Rewind for AuditSink {
    const WHAT: &'static str = "audit log";
    /// The end of the log so far (a frame ends there) and its counts.
    type Mark = (u64, u64, u64);

    fn mark(&mut self) -> std::io::Result<Self::Mark> {
        let pos = self.writer.between_frames(|f| f.stream_position())?;
        Ok((pos, self.writer.entries(), self.writer.bytes_changed()))
    }

    fn rewind(&mut self, mark: Self::Mark) -> std::io::Result<()> {
        self.writer.between_frames(|f| {
            f.set_len(mark.0)?;
            f.seek(SeekFrom::Start(mark.0)).map(|_| ())
        })?;
        self.writer.reset_counts(mark.1, mark.2);
        Ok(())
    }
}

impl ChangeSink for AuditSink {
    fn change(
        &mut self,
        file: &str,
        offset: u64,
        old: &[u8],
        new: &[u8],
        why: &str,
    ) -> std::io::Result<()> {
        self.writer.write(file, offset, old, new, why)
    }
}

/// One pass over a store's database at `dbtime`: output to a new file at `out`'s first path
/// (through the shared direct-I/O writer, fsynced; the second is the name it will have, the
/// one messages give), changes to `changes`, the census of the old and the
/// new base GUID taken on the pages read and written. A page at or above `dbtime` is
/// [`PassError::DbtimeAbove`]; a column outside the profile holding the old base GUID, unless
/// `allow_uncovered` names it, is a refusal; so is a covered column that still holds it after
/// the patch.
#[allow(clippy::too_many_arguments)]
pub fn stream_pass(
    s: &StoreFile,
    sp: &StorePlan,
    time_ole: f64,
    dbtime: u64,
    allow_uncovered: &[String],
    out: Option<(&Path, &Path)>,
    changes: &mut dyn ChangeSink,
    progress: Progress,
) -> Result<PassResult, PassError> {
    let layout = s
        .layout
        .as_ref()
        .ok_or_else(|| PassError::Refused(format!("{}: no store layout", s.rel())))?;
    let rel = s.rel();
    let total = s.map.bytes().len() as u64;
    let plan = page_plan(layout, sp, time_ole, dbtime, s.header.revision);
    let refused = |e: &dyn std::fmt::Display| PassError::Refused(format!("{rel}: {e}"));
    let db = Database::open(s.map.bytes()).map_err(|e| refused(&e))?;
    let catalog = Catalog::read(&db).map_err(|e| refused(&e))?;
    let covered = census::covered(layout);
    let (allow, at) = (allow_uncovered.to_vec(), rel.clone());
    let scan = CensusScan {
        owners: Owners::new(&catalog),
        matcher: Matcher::new(&census::needles(&sp.old_base_guid, Some(&sp.new_base_guid))),
        // Needle 0 is the old base GUID.
        refuse: Box::new(move |tally, owners| {
            let uncovered: Vec<census::Uncovered> = tally
                .column_records(owners, 0)
                .into_iter()
                .filter(|(t, c, n)| *n > 0 && !covered.iter().any(|(ct, cc)| ct == t && cc == c))
                .map(|(table, column, records)| census::Uncovered {
                    table,
                    column,
                    records,
                })
                .collect();
            let (problems, _) = census::judge(&at, &uncovered, &allow);
            (!problems.is_empty()).then(|| {
                format!(
                    "{} (the pass stops at the first; coldpatch inspect lists every such place)",
                    problems.join("; ")
                )
            })
        }),
    };
    let shown = out.map(|(_, shown)| shown.display().to_string());
    let io = |e: WriteError| {
        PassError::Io(format!(
            "{}: {} at offset {:#x}: {}{}",
            shown.as_deref().unwrap_or(&rel),
            e.op,
            e.offset,
            reason(&e.source),
            full_hint(&e.source)
        ))
    };
    let report = |done: u64| progress(&rel, done, total);
    // What discovery and the catalog read through the map is let go before the pass (a
    // mapped page read around a fault maps its neighbours in the page cache too); what the
    // long-value lookups of the structure check read is let go as it goes.
    s.map.release();
    let release = s.map.releasing_reads();
    // Discovery verified no page of this database: the structure is checked here, on the
    // pages the pass reads.
    s.map.advise_random();
    let leaves = LeafCheck::new(s.map.bytes(), &release);
    let mut r = match out {
        Some((path, _)) => {
            let mut file = OutFile::create(path, 0).map_err(io)?;
            let r = stream_database(
                &s.resolved.host,
                &rel,
                s.header.page_size,
                &plan,
                Some(&scan),
                Some(leaves),
                &mut file,
                changes,
                &report,
                Cache::Drop,
            )?;
            file.finish().map_err(io)?;
            r
        }
        None => stream_database(
            &s.resolved.host,
            &rel,
            s.header.page_size,
            &plan,
            Some(&scan),
            Some(leaves),
            &mut NoOutput,
            changes,
            &report,
            // The in-place writes read the changed pages again.
            Cache::Keep,
        )?,
    };
    let mut reports = Vec::new();
    for tally in [r.census_before.take(), r.census_after.take()] {
        let mut tally = tally.unwrap_or_default();
        resolve_long_values(&db, &catalog, &scan.owners, &mut tally).map_err(|e| refused(&e))?;
        reports.push(tally.report(&scan.owners, &scan.matcher));
    }
    let after = reports.pop().unwrap_or_default();
    let before = reports.pop().unwrap_or_default();
    let uncovered = census::uncovered(&before, layout);
    let (problems, _) = census::judge(&rel, &uncovered, allow_uncovered);
    if !problems.is_empty() {
        return Err(PassError::Refused(problems.join("; ")));
    }
    for (table, column) in census::covered(layout) {
        let left = after.records(&table, &column, census::OLD);
        if left > 0 {
            return Err(refused(&format!(
                "internal: after the patch {table}.{column} still holds the old base GUID in {}",
                census::rows(left)
            )));
        }
    }
    r.uncovered_allowed = uncovered;
    r.census = Some(census::CensusPair { before, after });
    // The pass is done with this database's map: its pages are let go, so that the next
    // database's pass does not carry them (a later read maps them again).
    s.map.release();
    Ok(r)
}

/// [`stream_pass`] at the header's dbtime + 1, run again above the highest page dbtime when a
/// page is above the header's (the sink — audit log, journal — rewound to where the first
/// pass began).
pub fn stream_with_dbtime<S: Rewind>(
    s: &StoreFile,
    sp: &StorePlan,
    time_ole: f64,
    allow: &[String],
    out: Option<(&Path, &Path)>,
    sink: &mut S,
    progress: Progress,
) -> Result<(PassResult, u64), ApplyError> {
    let mark = sink
        .mark()
        .map_err(|e| ApplyError::Write(format!("{}: {e}", S::WHAT)))?;
    let first = s.header.dbtime.saturating_add(1);
    match stream_pass(s, sp, time_ole, first, allow, out, sink, progress) {
        Ok(r) => Ok((r, first)),
        Err(PassError::DbtimeAbove { .. }) => {
            let max = max_page_dbtime(&s.resolved.host, s.header.page_size).map_err(pass_error)?;
            let dbtime = max.max(s.header.dbtime).saturating_add(1);
            sink.rewind(mark)
                .map_err(|e| ApplyError::Write(format!("{}: {e}", S::WHAT)))?;
            let r = stream_pass(s, sp, time_ole, dbtime, allow, out, sink, progress)
                .map_err(pass_error)?;
            Ok((r, dbtime))
        }
        Err(e) => Err(pass_error(e)),
    }
}

/// The apply error of a pass error.
pub fn pass_error(e: PassError) -> ApplyError {
    match e {
        PassError::Refused(m) => ApplyError::Refused(format!("{m}; nothing was written")),
        PassError::DbtimeAbove { pgno, found } => ApplyError::Refused(format!(
            "page {pgno}: dbtime {found:#x} is above the one to stamp"
        )),
        PassError::Io(m) => ApplyError::Write(m),
    }
}

/// A file patched, not yet in place.
struct Staged {
    rel: String,
    tmp: NamedTempFile,
    digest: FileDigest,
}

fn io_write(what: &Path) -> impl Fn(std::io::Error) -> ApplyError + '_ {
    move |e| {
        ApplyError::Write(format!(
            "{}: {}{}",
            what.display(),
            reason(&e),
            full_hint(&e)
        ))
    }
}

/// What to do about a full disk (or a file size limit reached), said after the reason.
pub fn full_hint(e: &std::io::Error) -> &'static str {
    if is_out_of_space(e) {
        " (the output's disk is full, or the file size limit, ulimit -f, was reached): free \
         space or raise the limit, then run again"
    } else {
        ""
    }
}

/// A temporary file beside `DIR/rel`, with the permissions of the input it replaces.
fn staging_file(
    dir: &Path,
    rel: &str,
    input: &Path,
) -> Result<(PathBuf, NamedTempFile), ApplyError> {
    let target = dir.join(rel);
    let parent = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf());
    std::fs::create_dir_all(&parent).map_err(io_write(&parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".coldpatch-")
        .suffix(".partial")
        .tempfile_in(&parent)
        .map_err(io_write(&parent))?;
    let perms = std::fs::metadata(input)
        .map_err(io_write(input))?
        .permissions();
    // Errors name the target: the temporary file's name never reaches the user.
    tmp.as_file()
        .set_permissions(perms)
        .map_err(io_write(&target))?;
    Ok((target, tmp))
}

/// Creates `dir` if it is missing, takes its lock (a second run on the same directory is
/// refused while this one holds it) and checks that it is empty.
pub fn prepare_out_dir(dir: &Path) -> Result<DirLocks, ApplyError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io_write(dir))?
        }
        Err(e) => return Err(ApplyError::Usage(format!("{}: {e}", dir.display()))),
        Ok(_) => {}
    }
    let lock = lock_dirs([dir]).map_err(|e| match e {
        LockError::Held { path, holder } => ApplyError::Refused(format!(
            "{}: the output directory is locked by {holder}, another run writing there; \
             nothing was written",
            path.display()
        )),
        LockError::Io { path, source } => {
            ApplyError::Usage(format!("{}: {source}", path.display()))
        }
    })?;
    let mut entries =
        std::fs::read_dir(dir).map_err(|e| ApplyError::Usage(format!("{}: {e}", dir.display())))?;
    if entries.next().is_some() {
        return Err(ApplyError::Usage(format!(
            "{}: the output directory must be new or empty",
            dir.display()
        )));
    }
    Ok(lock)
}

fn sync_dir(dir: &Path) -> Result<(), ApplyError> {
    fsync_dir(dir).map_err(io_write(dir))
}

/// `apply --out DIR`. On any error, whatever the run put into `DIR` (new or empty when it
/// started) is removed again: nothing that looks finished, no temporary file, no directory.
pub fn apply_out(
    inst: &Installation,
    plan: &Plan,
    dir: &Path,
    mode_warnings: &[String],
    progress: Progress,
) -> Result<Report, ApplyError> {
    let _lock = prepare_out_dir(dir)?;
    let result = apply_out_inner(inst, plan, dir, mode_warnings, progress).map_err(|e| match e {
        ApplyError::Write(m) => {
            ApplyError::Write(format!("{m}; nothing was kept in the output directory"))
        }
        other => other,
    });
    if result.is_err() {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
    result
}

fn apply_out_inner(
    inst: &Installation,
    plan: &Plan,
    dir: &Path,
    mode_warnings: &[String],
    progress: Progress,
) -> Result<Report, ApplyError> {
    let filetime = plan.patch_time.filetime();
    let time_ole = plan.patch_time.ole_date();
    let audit_tmp = tempfile::Builder::new()
        .prefix(".coldpatch-audit-")
        .tempfile_in(dir)
        .map_err(io_write(dir))?;
    let mut audit = AuditSink {
        writer: AuditWriter::new(audit_tmp.reopen().map_err(io_write(dir))?)
            .map_err(io_write(dir))?,
    };
    let mut staged: Vec<Staged> = Vec::new();
    let mut inputs: BTreeMap<String, FileDigest> = BTreeMap::new();

    // Hives: small, edited in memory.
    let mut hives: Vec<(String, &[u8])> = Vec::new();
    for (rel, host) in crate::patch::plan::input_files(inst) {
        if inst.stores.iter().any(|s| s.resolved.host == host) {
            continue;
        }
        let bytes = hive_bytes(inst, &rel).unwrap_or(&[]);
        inputs.insert(
            rel.clone(),
            FileDigest {
                path: rel.clone(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            },
        );
        hives.push((rel, bytes));
    }
    for (rel, bytes) in &hives {
        let edits = plan.edits_of(rel);
        if edits.is_empty() {
            continue;
        }
        let new = apply_edits(bytes.to_vec(), &edits, filetime)
            .map_err(|e| ApplyError::Refused(format!("{rel}: {e}; nothing was written")))?;
        for (offset, old, new_bytes) in changed_ranges(bytes, &new) {
            audit
                .change(rel, offset, old, new_bytes, &range_reason(offset, &edits))
                .map_err(|e| ApplyError::Write(format!("audit log: {e}")))?;
        }
        let host = hive_host(inst, rel).unwrap_or(dir);
        let (target, mut tmp) = staging_file(dir, rel, host)?;
        tmp.write_all(&new).map_err(io_write(&target))?;
        tmp.as_file().sync_all().map_err(io_write(&target))?;
        staged.push(Staged {
            rel: rel.clone(),
            tmp,
            digest: FileDigest {
                path: rel.clone(),
                size: new.len() as u64,
                sha256: sha256_hex(&new),
            },
        });
    }

    // Databases: one streaming pass each.
    let mut store_reports = Vec::new();
    for sp in &plan.stores {
        let s = inst
            .stores
            .iter()
            .find(|s| s.kind == sp.name)
            .ok_or_else(|| ApplyError::Refused(format!("{}: not found in the image", sp.path)))?;
        let rel = s.rel();
        let (target, tmp) = staging_file(dir, &rel, &s.resolved.host)?;
        let (result, dbtime) = stream_with_dbtime(
            s,
            sp,
            time_ole,
            &plan.allowed_uncovered,
            Some((tmp.path(), &target)),
            &mut audit,
            progress,
        )?;
        inputs.insert(
            rel.clone(),
            FileDigest {
                path: rel.clone(),
                size: result.size,
                sha256: result.input_sha256.clone(),
            },
        );
        store_reports.push(store_report(s, sp, &result, dbtime));
        staged.push(Staged {
            rel: rel.clone(),
            tmp,
            digest: FileDigest {
                path: rel,
                size: result.size,
                sha256: result.output_sha256,
            },
        });
    }

    // apply --plan: every input must be the one the plan was made from.
    check_plan_inputs(plan, &inputs)?;
    crate::patch::pause::wait_here("passed");
    check_inputs_unchanged(inst)?;

    let audit_entries = audit.writer.entries();
    let audit_bytes = audit.writer.bytes_changed();
    let audit_file = audit
        .writer
        .finish()
        .map_err(|e| ApplyError::Write(format!("audit log: {e}")))?;
    audit_file.sync_all().map_err(io_write(dir))?;
    drop(audit_file);

    // Everything patched: put the outputs in place.
    let mut outputs = Vec::new();
    for st in staged {
        let target = dir.join(&st.rel);
        st.tmp
            .persist(&target)
            .map_err(|e| ApplyError::Write(format!("{}: {}", target.display(), e.error)))?;
        if let Some(parent) = target.parent() {
            sync_dir(parent)?;
        }
        outputs.push(st.digest);
    }
    let inputs: Vec<FileDigest> = inputs.into_values().collect();
    let report = build_report(
        inst,
        plan,
        "out",
        store_reports,
        inputs.clone(),
        outputs.clone(),
        mode_warnings,
        audit_entries,
        audit_bytes,
    );
    audit_tmp
        .persist(dir.join(AUDIT_FILE))
        .map_err(|e| ApplyError::Write(format!("{AUDIT_FILE}: {}", e.error)))?;
    write_small(dir, "SHA256SUMS.input", manifest(&inputs).as_bytes())?;
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| ApplyError::Write(format!("report.json: {e}")))?;
    write_small(dir, "report.json", &json)?;
    let case_file =
        crate::manifest::html::render(&report, &crate::manifest::html::Beside::out_dir());
    write_small(dir, crate::manifest::html::CASE_FILE, case_file.as_bytes())?;
    write_small(dir, "SHA256SUMS", manifest(&outputs).as_bytes())?;
    sync_dir(dir)?;
    Ok(report)
}

/// Refuses when a plan's recorded input differs from what was read.
pub fn check_plan_inputs(
    plan: &Plan,
    read: &BTreeMap<String, FileDigest>,
) -> Result<(), ApplyError> {
    for want in &plan.inputs {
        match read.get(&want.path) {
            Some(got) if got.sha256 == want.sha256 && got.size == want.size => {}
            Some(got) => {
                return Err(ApplyError::Refused(format!(
                    "{}: SHA-256 {} ({} bytes), but the plan was made from {} ({} bytes): the \
                     image changed since the plan; make a new plan. Nothing was written",
                    want.path, got.sha256, got.size, want.sha256, want.size
                )))
            }
            None => {
                return Err(ApplyError::Refused(format!(
                    "{}: the plan read this file, this run did not find it; make a new plan. \
                     Nothing was written",
                    want.path
                )))
            }
        }
    }
    Ok(())
}

/// Refuses when an input file was changed, or replaced, since discovery opened it: what was
/// read may mix two states of it.
pub fn check_inputs_unchanged(inst: &Installation) -> Result<(), ApplyError> {
    let stores = inst.stores.iter().map(|s| &s.map);
    let hives = hive_files(inst).into_iter().map(|h| &h.map);
    for map in stores.chain(hives) {
        if let Some(why) = map.changed_since_open() {
            return Err(ApplyError::Refused(format!(
                "{}: the file changed while apply ran ({why}); what was read cannot be trusted. \
                 Nothing was written; run apply again once nothing else writes to the image",
                map.path().display()
            )));
        }
    }
    Ok(())
}

/// Manifests and the report: written atomically, readable by all (0644).
fn write_small(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ApplyError> {
    crate::manifest::write_record(&dir.join(name), bytes)
        .map_err(|e| ApplyError::Write(format!("{name}: {e}")))
}

fn hive_files(inst: &Installation) -> Vec<&HiveFile> {
    let mut hives = vec![&inst.system];
    hives.extend(inst.system_alt.as_ref().map(|(h, _)| h));
    hives.extend(inst.software.as_ref().map(|(h, _)| h));
    if let Some(c) = &inst.cluster {
        hives.push(&c.clusdb);
        hives.extend(c.checkpoints.iter().filter_map(|cp| cp.file.as_ref()));
    }
    hives
}

/// The host path of an input hive by its relative path.
fn hive_host<'a>(inst: &'a Installation, rel: &str) -> Option<&'a Path> {
    hive_files(inst)
        .into_iter()
        .find(|h| h.rel() == rel)
        .map(|h| h.resolved.host.as_path())
}

/// The bytes of an input hive by its relative path.
pub fn hive_bytes<'a>(inst: &'a Installation, rel: &str) -> Option<&'a [u8]> {
    hive_files(inst)
        .into_iter()
        .find(|h| h.rel() == rel)
        .map(|h| h.map.bytes())
}

/// The ranges where `new` differs from `old` (and where it runs past `old`'s end), as
/// (offset, old bytes, new bytes); runs closer than 8 bytes are merged.
pub fn changed_ranges<'a>(old: &'a [u8], new: &'a [u8]) -> Vec<(u64, &'a [u8], &'a [u8])> {
    const MERGE_GAP: usize = 8;
    let mut out = Vec::new();
    let common = old.len().min(new.len());
    let mut i = 0;
    while i < common {
        i += crate::bytes::common_prefix(&old[i..common], &new[i..common]);
        if i >= common {
            break;
        }
        let start = i;
        let mut end = i + 1;
        let mut j = end;
        while j < common && j - end < MERGE_GAP {
            if old[j] != new[j] {
                end = j + 1;
            }
            j += 1;
        }
        out.push((start as u64, &old[start..end], &new[start..end]));
        i = end;
    }
    if new.len() > old.len() {
        out.push((old.len() as u64, &old[old.len()..], &new[old.len()..]));
    }
    out
}

pub fn store_report(s: &StoreFile, sp: &StorePlan, r: &PassResult, dbtime: u64) -> StoreReport {
    let layout = s.layout.as_ref();
    let mut rows_rewritten = BTreeMap::new();
    let mut rows_foreign = BTreeMap::new();
    if let Some(l) = layout {
        let mut names = vec![l.globals.table.clone()];
        names.extend(l.guid_tables.iter().map(|t| t.table.clone()));
        for (i, name) in names.iter().enumerate() {
            let (done, seen) = (r.rows[i], r.seen[i]);
            rows_rewritten.insert(name.clone(), done);
            if i > 0 {
                rows_foreign.insert(name.clone(), seen - done);
            }
        }
    }
    StoreReport {
        name: sp.name.name().into(),
        path: sp.path.clone(),
        windows_path: sp.windows_path.clone(),
        old_base_guid: sp.old_base_guid.to_string(),
        new_base_guid: sp.new_base_guid.to_string(),
        old_server_name: sp.old_server_name.clone(),
        new_server_name: sp.new_server_name.clone(),
        rows_rewritten,
        rows_foreign,
        pages_changed: r.pages_changed,
        new_dbtime: dbtime,
        uncovered_allowed: r.uncovered_allowed.clone(),
        census: r.census.clone(),
        page_map: r.page_map.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn build_report(
    inst: &Installation,
    plan: &Plan,
    mode: &str,
    stores: Vec<StoreReport>,
    inputs: Vec<FileDigest>,
    outputs: Vec<FileDigest>,
    mode_warnings: &[String],
    audit_entries: u64,
    audit_bytes: u64,
) -> Report {
    let mut warnings = plan.warnings.clone();
    warnings.extend(mode_warnings.iter().cloned());
    for s in &stores {
        let (_, allowed) = census::judge(&s.path, &s.uncovered_allowed, &plan.allowed_uncovered);
        for w in allowed {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }
    Report {
        tool_version: plan.tool_version.clone(),
        patch_time: plan.patch_time.rfc3339(),
        mode: mode.into(),
        volumes: inst
            .image
            .volumes()
            .map(|(l, p)| VolumeReport {
                letter: l.to_string(),
                path: p.display().to_string(),
            })
            .collect(),
        target_server_name: plan.target_server_name.clone(),
        target_server_name_source: plan.target_server_name_source.clone(),
        stores,
        registry_edits: plan
            .registry_edits
            .iter()
            .map(|e| RegistryEditReport {
                file: e.file.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
                kind: type_name(e.kind),
                old: e.old.clone(),
                new: e.new.clone(),
            })
            .collect(),
        inputs,
        outputs,
        warnings,
        audit_entries,
        audit_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ranges_merge_and_cover_growth() {
        let old = b"aaaaaaaaaaaaaaaaaaaa";
        let mut new = old.to_vec();
        new[2] = b'x';
        new[5] = b'y';
        new[19] = b'z';
        new.extend_from_slice(b"tail");
        let r = changed_ranges(old, &new);
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].0, r[0].2), (2, &b"xaay"[..]));
        assert_eq!((r[1].0, r[1].2), (19, &b"z"[..]));
        assert_eq!((r[2].0, r[2].1, r[2].2), (20, &b""[..], &b"tail"[..]));
    }
}
