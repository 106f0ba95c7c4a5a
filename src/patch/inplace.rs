//! `apply --in-place --journal FILE`: the image's files patched where they are, behind one undo
//! journal for the whole image (databases and hives).
//!
//! Order: one read-only pass per database (and the hive edits in memory) verifies every page
//! and the structure as it reads them, records every changed range — old and new bytes — in
//! the journal and the audit log, and gives the before and after SHA-256 of every file (a
//! database that does not verify, or a place the profile does not cover, stops the run with
//! the unsealed journal removed); the journal is sealed (fsynced) with that file table; only
//! then are the targets written, from the journal, and fsynced (each database checked first by
//! the stamp its pass took and its ranges' old bytes, not hashed again); then the journal is
//! marked committed. `coldpatch undo FILE` restores the exact original bytes at any point,
//! also after a crash.
//!
//! The report, case file, audit log and manifests go beside the journal: `FILE.report.json`,
//! `FILE.report.html`,
//! `FILE.audit.jsonl.zst`, `FILE.SHA256SUMS` (outputs, relative to the image) and
//! `FILE.SHA256SUMS.input`.

use crate::image::write::reason;
use crate::journal::{apply_sealed, FileStamp, HeadLast, JournalError, JournalFile, JournalWriter};
use crate::manifest::audit::{AuditWriter, AUDIT_FILE};
use crate::manifest::report::Report;
use crate::manifest::sums::{manifest, FileDigest};
use crate::patch::apply::{
    build_report, changed_ranges, check_inputs_unchanged, check_plan_inputs, full_hint, hive_bytes,
    store_report, stream_with_dbtime, ApplyError, AuditSink, Progress, Rewind,
};
use crate::patch::discover::Installation;
use crate::patch::hives::{apply_edits, range_reason};
use crate::patch::plan::{input_files, Plan};
use crate::patch::stream::ChangeSink;
use crate::regf::base_block::BASE_BLOCK_SIZE;
use crate::regf::disk::in_progress_base_block;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::patch::pause::{pause_at_range, pause_here, wait_here};

/// Changes go to the audit log one by one; the journal records each changed page's (or
/// hive's) net difference, so that a file's ranges ascend and never overlap.
struct JournalSink {
    journal: JournalWriter,
    audit: AuditSink,
    index: BTreeMap<String, u32>,
}

impl Rewind for JournalSink {
    const WHAT: &'static str = "audit log or journal";
    type Mark = (<AuditSink as Rewind>::Mark, u64);

    fn mark(&mut self) -> std::io::Result<Self::Mark> {
        let journal = self.journal.mark().map_err(std::io::Error::other)?;
        Ok((self.audit.mark()?, journal))
    }

    fn rewind(&mut self, (audit, journal): Self::Mark) -> std::io::Result<()> {
        self.journal
            .rewind(journal)
            .map_err(std::io::Error::other)?;
        self.audit.rewind(audit)
    }
}

impl ChangeSink for JournalSink {
    fn change(
        &mut self,
        file: &str,
        offset: u64,
        old: &[u8],
        new: &[u8],
        why: &str,
    ) -> std::io::Result<()> {
        self.audit.change(file, offset, old, new, why)
    }

    fn page(
        &mut self,
        file: &str,
        offset: u64,
        before: &[u8],
        after: &[u8],
    ) -> std::io::Result<()> {
        let i = *self.index.get(file).ok_or_else(|| {
            std::io::Error::other(format!("{file}: not among the journaled files"))
        })?;
        for (at, old, new) in changed_ranges(before, after) {
            self.journal
                .record(i, offset + at, old, new)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(())
    }
}

impl JournalSink {
    /// A hive's change: its whole base block (written last, over an in-progress one, so the
    /// journal must hold every byte of it) and the net difference of its bins.
    fn hive(&mut self, file: &str, before: &[u8], after: &[u8]) -> std::io::Result<()> {
        let i = *self.index.get(file).ok_or_else(|| {
            std::io::Error::other(format!("{file}: not among the journaled files"))
        })?;
        let head = BASE_BLOCK_SIZE.min(before.len()).min(after.len());
        let record = |j: &mut JournalWriter, at: u64, old: &[u8], new: &[u8]| {
            j.record(i, at, old, new)
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        record(&mut self.journal, 0, &before[..head], &after[..head])?;
        for (at, old, new) in changed_ranges(&before[head..], &after[head..]) {
            record(&mut self.journal, head as u64 + at, old, new)?;
        }
        Ok(())
    }
}

fn journal_error(e: JournalError) -> ApplyError {
    match e {
        JournalError::Exists(p) => ApplyError::Usage(format!(
            "{}: the journal exists; it may be the only undo of an earlier run. Give a new \
             path. Nothing was written",
            p.display()
        )),
        JournalError::Io { path, source } => ApplyError::Write(format!(
            "{}: {}{}",
            path.display(),
            reason(&source),
            full_hint(&source)
        )),
        other => ApplyError::Write(other.to_string()),
    }
}

fn beside(journal: &Path, suffix: &str) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    journal.with_file_name(name)
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn unhex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = s
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

/// `apply --in-place --journal FILE`.
pub fn apply_in_place(
    inst: &Installation,
    plan: &Plan,
    journal: &Path,
    progress: Progress,
) -> Result<Report, ApplyError> {
    let journal = std::path::absolute(journal)
        .map_err(|e| ApplyError::Usage(format!("{}: {e}", journal.display())))?;
    if let Some((letter, _)) = inst.image.volume_holding(&journal) {
        return Err(ApplyError::Usage(format!(
            "{}: the journal must be kept outside the image (it is on volume {letter}:); \
             nothing was written",
            journal.display()
        )));
    }
    check_writable(inst, plan)?;
    let filetime = plan.patch_time.filetime();
    let time_ole = plan.patch_time.ole_date();
    let inputs = input_files(inst);
    let index: BTreeMap<String, u32> = inputs
        .iter()
        .enumerate()
        .map(|(i, (rel, _))| (rel.clone(), i as u32))
        .collect();
    // The journal names the files (as the file table will, in its order) before anything is
    // read.
    let hosts: Vec<PathBuf> = inputs.iter().map(|(_, host)| host.clone()).collect();
    // The volumes are locked; the files' own directories too, which a reg import or an undo
    // of the same files locks.
    let _locked = crate::image::guard::lock_file_dirs(hosts.iter().map(PathBuf::as_path)).map_err(
        |e| match e {
            crate::image::guard::LockError::Held { path, holder } => ApplyError::Refused(format!(
                "{}: locked by {holder}, another run writing these files; wait for it to end, \
                 then run again. Nothing was written",
                path.display()
            )),
            crate::image::guard::LockError::Io { path, source } => {
                ApplyError::Usage(format!("{}: {source}", path.display()))
            }
        },
    )?;
    let audit_path = beside(&journal, &format!(".{AUDIT_FILE}"));
    let audit_tmp = tempfile::Builder::new()
        .prefix(".coldpatch-audit-")
        .tempfile_in(journal.parent().unwrap_or(Path::new(".")))
        .map_err(|e| ApplyError::Write(format!("{}: {}", audit_path.display(), reason(&e))))?;
    // The audit log first: a journal is created only when nothing else stands in the way.
    let audit = audit_tmp
        .reopen()
        .and_then(AuditWriter::new)
        .map_err(|e| ApplyError::Write(format!("{}: {}", audit_path.display(), reason(&e))))?;
    let sink = JournalSink {
        journal: JournalWriter::create(&journal, &hosts).map_err(|e| match journal_error(e) {
            ApplyError::Write(m) => {
                ApplyError::Write(format!("{m}; nothing was written to the image"))
            }
            other => other,
        })?,
        audit: AuditSink::new(audit),
        index,
    };
    // Until the journal is sealed nothing is written to the image: on any error the unsealed
    // journal, which would undo nothing, is removed.
    let sealed = record_and_seal(inst, plan, sink, &audit_path, filetime, time_ole, progress);
    let Sealed {
        journal: jw,
        read,
        outputs,
        stores,
        heads,
        stamps,
        audit_entries,
        audit_bytes,
    } = match sealed {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&journal);
            return Err(match e {
                ApplyError::Write(m) => ApplyError::Write(format!(
                    "{m}; nothing was written to the image (the unfinished journal was removed)"
                )),
                other => other,
            });
        }
    };
    pause_here("sealed");
    let undo_hint = |e: JournalError| {
        if let JournalError::NotWritable { .. } = e {
            // Nothing was written: the sealed journal would undo nothing, so it goes.
            let _ = std::fs::remove_file(&journal);
            return ApplyError::Write(e.to_string());
        }
        ApplyError::Write(format!(
            "{e}; the image may be partly patched: run coldpatch undo {} to restore it",
            journal.display()
        ))
    };
    apply_sealed(&journal, &heads, &stamps, &pause_at_range).map_err(undo_hint)?;
    pause_here("written");
    jw.commit().map_err(undo_hint)?;

    let inputs: Vec<FileDigest> = read.into_values().collect();
    let report = build_report(
        inst,
        plan,
        "in-place",
        stores,
        inputs.clone(),
        outputs.clone(),
        &[],
        audit_entries,
        audit_bytes,
    );
    audit_tmp
        .persist(&audit_path)
        .map_err(|e| ApplyError::Write(format!("{}: {}", audit_path.display(), e.error)))?;
    let write = |suffix: &str, bytes: &[u8]| {
        let p = beside(&journal, suffix);
        crate::manifest::write_record(&p, bytes)
            .map_err(|e| ApplyError::Write(format!("{}: {e}", p.display())))
    };
    write(".SHA256SUMS.input", manifest(&inputs).as_bytes())?;
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| ApplyError::Write(format!("report: {e}")))?;
    write(".report.json", &json)?;
    let name = journal
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let case_file =
        crate::manifest::html::render(&report, &crate::manifest::html::Beside::journal(&name));
    write(
        &format!(".{}", crate::manifest::html::CASE_FILE),
        case_file.as_bytes(),
    )?;
    write(".SHA256SUMS", manifest(&outputs).as_bytes())?;
    Ok(report)
}

/// Refuses, before anything is written, when a file the run writes (every database, every
/// hive with edits) cannot be written: marked read-only, on a read-only mount, no permission.
fn check_writable(inst: &Installation, plan: &Plan) -> Result<(), ApplyError> {
    for (rel, host) in input_files(inst) {
        let is_store = inst.stores.iter().any(|s| s.resolved.host == host);
        if !is_store && plan.edits_of(&rel).is_empty() {
            continue;
        }
        if let Some(why) = crate::image::guard::not_writable(&host) {
            return Err(ApplyError::Usage(format!(
                "{}: cannot be patched in place: {why}. Nothing was written (no journal \
                 either); make the volume writable, or write patched copies with --out DIR",
                host.display()
            )));
        }
    }
    Ok(())
}

/// What the run knows once its journal is sealed.
struct Sealed {
    journal: JournalWriter,
    /// Every input as read (its digest before).
    read: BTreeMap<String, FileDigest>,
    /// Every file that changes, as it will be.
    outputs: Vec<FileDigest>,
    stores: Vec<crate::manifest::report::StoreReport>,
    heads: BTreeMap<u32, HeadLast>,
    stamps: BTreeMap<u32, FileStamp>,
    audit_entries: u64,
    audit_bytes: u64,
}

/// Everything up to the sealed journal: the read-only pass, the checks that the inputs are
/// the plan's and did not change meanwhile, the audit log finished, the journal sealed.
#[allow(clippy::too_many_arguments)]
fn record_and_seal(
    inst: &Installation,
    plan: &Plan,
    mut sink: JournalSink,
    audit_path: &Path,
    filetime: u64,
    time_ole: f64,
    progress: Progress,
) -> Result<Sealed, ApplyError> {
    let (files, read, outputs, stores, heads, stamps) =
        record_all(inst, plan, &mut sink, filetime, time_ole, progress)?;
    check_plan_inputs(plan, &read)?;
    wait_here("passed");
    check_inputs_unchanged(inst)?;
    let JournalSink {
        journal: mut jw,
        audit,
        ..
    } = sink;
    let audit = audit.into_writer();
    let audit_entries = audit.entries();
    let audit_bytes = audit.bytes_changed();
    audit
        .finish()
        .and_then(|f| f.sync_all())
        .map_err(|e| ApplyError::Write(format!("{}: {}", audit_path.display(), reason(&e))))?;
    jw.seal(&files).map_err(journal_error)?;
    Ok(Sealed {
        journal: jw,
        read,
        outputs,
        stores,
        heads,
        stamps,
        audit_entries,
        audit_bytes,
    })
}

type Recorded = (
    Vec<JournalFile>,
    BTreeMap<String, FileDigest>,
    Vec<FileDigest>,
    Vec<crate::manifest::report::StoreReport>,
    BTreeMap<u32, HeadLast>,
    BTreeMap<u32, FileStamp>,
);

/// The read-only pass: every change recorded, every file's before and after hashes.
fn record_all(
    inst: &Installation,
    plan: &Plan,
    sink: &mut JournalSink,
    filetime: u64,
    time_ole: f64,
    progress: Progress,
) -> Result<Recorded, ApplyError> {
    let mut files = Vec::new();
    let mut read = BTreeMap::new();
    let mut outputs = Vec::new();
    let mut stores = Vec::new();
    // Hives are written as Windows writes them: an in-progress base block, the bins, then
    // the final base block, so a crash mid-write leaves a hive any reader sees as dirty.
    let mut heads = BTreeMap::new();
    // Each database as it was when the pass read it: checked again before the first write,
    // with the old bytes of its ranges, instead of hashing it whole a second time.
    let mut stamps = BTreeMap::new();
    for (i, (rel, host)) in input_files(inst).into_iter().enumerate() {
        let store = inst.stores.iter().find(|s| s.resolved.host == host);
        let (before, after): ((u64, [u8; 32]), (u64, [u8; 32])) = match store {
            Some(s) => {
                let sp = plan
                    .stores
                    .iter()
                    .find(|p| p.name == s.kind)
                    .ok_or_else(|| ApplyError::Refused(format!("{rel}: not in the plan")))?;
                let stamp = |when: &str| {
                    FileStamp::of(&host).map_err(|e| {
                        ApplyError::Write(format!("{} ({when} the pass): {e}", host.display()))
                    })
                };
                let before_pass = stamp("before")?;
                let (r, dbtime) = stream_with_dbtime(
                    s,
                    sp,
                    time_ole,
                    &plan.allowed_uncovered,
                    None,
                    sink,
                    progress,
                )?;
                if stamp("after")? != before_pass {
                    return Err(ApplyError::Refused(format!(
                        "{rel}: the file changed while it was read; nothing was written"
                    )));
                }
                stamps.insert(i as u32, before_pass);
                stores.push(store_report(s, sp, &r, dbtime));
                (
                    (r.size, unhex32(&r.input_sha256)),
                    (r.size, unhex32(&r.output_sha256)),
                )
            }
            None => {
                let bytes = hive_bytes(inst, &rel).unwrap_or(&[]);
                let edits = plan.edits_of(&rel);
                let new = if edits.is_empty() {
                    bytes.to_vec()
                } else {
                    apply_edits(bytes.to_vec(), &edits, filetime).map_err(|e| {
                        ApplyError::Refused(format!("{rel}: {e}; nothing was written"))
                    })?
                };
                for (offset, old, new_bytes) in changed_ranges(bytes, &new) {
                    sink.change(&rel, offset, old, new_bytes, &range_reason(offset, &edits))
                        .map_err(|e| ApplyError::Write(format!("audit log: {e}")))?;
                }
                if new != bytes {
                    sink.hive(&rel, bytes, &new)
                        .map_err(|e| ApplyError::Write(format!("journal: {e}")))?;
                    heads.insert(
                        i as u32,
                        HeadLast {
                            interim: in_progress_base_block(bytes, &new),
                        },
                    );
                }
                (
                    (bytes.len() as u64, sha(bytes)),
                    (new.len() as u64, sha(&new)),
                )
            }
        };
        let hex = crate::manifest::sums::hex;
        read.insert(
            rel.clone(),
            FileDigest {
                path: rel.clone(),
                size: before.0,
                sha256: hex(&before.1),
            },
        );
        if before != after {
            outputs.push(FileDigest {
                path: rel.clone(),
                size: after.0,
                sha256: hex(&after.1),
            });
        }
        files.push(JournalFile {
            path: host.clone(),
            size_before: before.0,
            sha256_before: before.1,
            size_after: after.0,
            sha256_after: after.1,
        });
    }
    Ok((files, read, outputs, stores, heads, stamps))
}
