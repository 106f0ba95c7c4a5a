//! `inspect IMAGE`, `plan`, `apply`: argument handling, output and exit codes over
//! [`crate::patch`].

use crate::cli::{Exit, Failure, GlobalArgs, ImageArgs};
use crate::exchange::Profile;
use crate::image::Image;
use crate::manifest::report::Report;
use crate::patch::apply::{apply_out, ApplyError};
use crate::patch::discover::{DiscoverOptions, Installation};
use crate::patch::inspect::InspectImage;
use crate::patch::plan::{hash_inputs, new_guids, reasons, stale_mirror, Plan, PLAN_FORMAT};
use crate::patch::time::PatchTime;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Opens the image and discovers the installation.
pub fn discover(image: &ImageArgs, opts: &DiscoverOptions) -> Result<Installation, Failure> {
    discover_in(open_image(image)?, opts)
}

/// Opens the image's volumes.
fn open_image(image: &ImageArgs) -> Result<Image, Failure> {
    if image.image.is_none() && image.volume.is_empty() {
        return Err(Failure::usage(
            "give the image directory (IMAGE_DIR) or at least one --volume X:=PATH",
        ));
    }
    Image::open(image.image.as_deref(), &image.volume).map_err(|e| Failure::usage(e.to_string()))
}

/// Discovers the installation on opened volumes.
fn discover_in(img: Image, opts: &DiscoverOptions) -> Result<Installation, Failure> {
    Installation::discover(img, &Profile::exchange55(), opts).map_err(|e| Failure::usage(e.0))
}

/// Refuses a path the run would write (`what`) that lies inside one of the image's volumes.
fn refuse_inside_image(img: &Image, path: &Path, what: &str) -> Result<(), Failure> {
    match img.volume_holding(path) {
        Some((letter, root)) => Err(Failure::usage(format!(
            "{}: {what} is inside the image (volume {letter}: is {}), which coldpatch never \
             writes to; give a path outside the image. Nothing was written",
            path.display(),
            root.display()
        ))),
        None => Ok(()),
    }
}

/// Takes the lock of every volume for the whole run: a second apply on any of them is
/// refused while this one holds it (the kernel lets go when the process ends, however).
fn lock_image(img: &Image) -> Result<crate::image::guard::DirLocks, Failure> {
    use crate::image::guard::{lock_dirs, LockError};
    lock_dirs(img.volumes().map(|(_, p)| p)).map_err(|e| match e {
        LockError::Held { path, holder } => Failure::refused(format!(
            "{}: this volume of the image is locked by {holder}, another apply using the \
             image; wait for it to end, then run again. Nothing was written",
            path.display()
        )),
        LockError::Io { path, source } => Failure::usage(format!(
            "{}: cannot lock the volume: {source}",
            path.display()
        )),
    })
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::usage(format!("cannot format the JSON report: {e}")))?;
    println!("{text}");
    Ok(())
}

/// `inspect IMAGE [--quick]`: with `quick`, no page is read past each database's header,
/// catalog and Globals.
pub fn inspect(global: &GlobalArgs, image: &ImageArgs, quick: bool) -> Result<Exit, Failure> {
    let opts = DiscoverOptions {
        server_name: image.server_name.clone(),
        verify_pages: !quick,
        count_rows: !quick,
        skip_checkpoint: image.skip_checkpoint,
        census: !quick,
        allow_uncovered: image.allow_uncovered.clone(),
    };
    let inst = discover(image, &opts)?;
    let report = InspectImage::build(&inst, &Profile::exchange55(), !quick);
    if global.json {
        print_json(&report)?;
    } else if !global.quiet || !report.problems.is_empty() {
        print!("{}", report.text());
    }
    Ok(if report.problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Problems
    })
}

fn refuse_problems(inst: &Installation) -> Result<(), Failure> {
    if inst.problems.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "refused: {}; nothing was written:",
        crate::text::count(inst.problems.len() as u64, "problem", "problems")
    );
    for p in &inst.problems {
        msg.push_str("\n  - ");
        msg.push_str(p);
    }
    Err(Failure::refused(msg))
}

fn patch_time() -> Result<PatchTime, Failure> {
    PatchTime::from_env().map_err(|e| Failure::usage(e.to_string()))
}

/// `plan IMAGE [--out PLAN.json]`.
pub fn plan(
    global: &GlobalArgs,
    image: &ImageArgs,
    seed: Option<&str>,
    out: Option<&Path>,
) -> Result<Exit, Failure> {
    let opts = DiscoverOptions {
        server_name: image.server_name.clone(),
        verify_pages: true,
        count_rows: true,
        skip_checkpoint: image.skip_checkpoint,
        census: true,
        allow_uncovered: image.allow_uncovered.clone(),
    };
    let img = open_image(image)?;
    if let Some(path) = out {
        refuse_inside_image(&img, path, "the plan file")?;
    }
    let inst = discover_in(img, &opts)?;
    refuse_problems(&inst)?;
    let profile = Profile::exchange55();
    let mut plan = Plan::compute(
        &inst,
        &profile,
        &new_guids(seed),
        patch_time()?,
        seed,
        image.skip_checkpoint,
    )
    .map_err(|e| Failure::refused(e.0))?;
    plan.warnings.extend(stale_mirror(&inst));
    plan.allowed_uncovered = image.allow_uncovered.clone();
    plan.inputs = hash_inputs(&inst).map_err(|e| Failure::usage(e.0))?;
    if let Some(path) = out {
        let json = serde_json::to_vec_pretty(&plan)
            .map_err(|e| Failure::usage(format!("cannot format the plan: {e}")))?;
        crate::regf::disk::write_atomic(path, &json).map_err(|e| Failure::write(e.to_string()))?;
    }
    if global.json {
        print_json(&plan)?;
    } else if !global.quiet {
        print!("{}", plan_text(&plan, &reasons(&inst, &profile)));
        if let Some(path) = out {
            println!("Plan saved to {}", path.display());
        }
    }
    Ok(Exit::Ok)
}

fn plan_text(plan: &Plan, reasons: &[String]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Target server name: {} (from {})",
        plan.target_server_name, plan.target_server_name_source
    );
    let _ = writeln!(o, "Patch time: {}", plan.patch_time_text);
    if reasons.is_empty() {
        let _ = writeln!(o, "No patch needed (apply does nothing without --force).");
    } else {
        let _ = writeln!(o, "Why:");
        for r in reasons {
            let _ = writeln!(o, "  - {r}");
        }
    }
    for s in &plan.stores {
        let _ = writeln!(
            o,
            "Store {} ({}): base GUID {} -> {}; server {} -> {}",
            s.name.name(),
            s.path,
            s.old_base_guid,
            s.new_base_guid,
            s.old_server_name.as_deref().unwrap_or("NULL"),
            s.new_server_name
        );
        for (t, n) in &s.rows_to_rewrite {
            let foreign = s
                .rows_foreign
                .get(t)
                .map_or(String::new(), |f| format!(", {f} foreign left alone"));
            let rows = crate::text::count(*n, "row", "rows");
            let _ = writeln!(o, "  {t}: {rows} to rewrite{foreign}");
        }
        for u in &s.uncovered {
            let allowed = plan
                .allowed_uncovered
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&u.name()));
            let _ = writeln!(
                o,
                "  {}: {} holding the old base GUID, not rewritten ({})",
                u.name(),
                crate::patch::census::rows(u.records),
                if allowed {
                    "allowed by --allow-uncovered"
                } else {
                    "apply refuses unless --allow-uncovered names it"
                }
            );
        }
    }
    let _ = writeln!(o, "Registry edits:");
    for e in &plan.registry_edits {
        let _ = writeln!(
            o,
            "  {} {}\\{}: {} -> {}",
            e.file,
            e.key,
            e.value,
            e.old.as_deref().unwrap_or("(absent)"),
            e.new
        );
    }
    let _ = writeln!(o, "Inputs:");
    for i in &plan.inputs {
        let _ = writeln!(o, "  {}  {} ({} bytes)", i.sha256, i.path, i.size);
    }
    for w in &plan.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// What `apply` is asked to do.
pub struct ApplyArgs<'a> {
    pub image: &'a ImageArgs,
    pub out: Option<&'a Path>,
    pub in_place: bool,
    pub journal: Option<&'a Path>,
    pub plan: Option<&'a Path>,
    pub seed: Option<&'a str>,
    pub force: bool,
}

fn read_plan(path: &Path) -> Result<Plan, Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let plan: Plan = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::usage(format!("{}: not a coldpatch plan: {e}", path.display())))?;
    if plan.format != PLAN_FORMAT {
        return Err(Failure::usage(format!(
            "{}: plan format {}, this coldpatch reads {}",
            path.display(),
            crate::text::quoted(&plan.format),
            crate::text::quoted(PLAN_FORMAT)
        )));
    }
    Ok(plan)
}

/// The progress bar of the long passes (stderr, terminal only).
pub fn progress_bar(global: &GlobalArgs) -> ProgressBar {
    if global.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn apply_failure(e: ApplyError) -> Failure {
    match e {
        ApplyError::Refused(m) => Failure::refused(m),
        ApplyError::Usage(m) => Failure::usage(m),
        ApplyError::Write(m) => Failure::write(m),
    }
}

/// `apply IMAGE (--out DIR | --in-place --journal FILE) [--plan PLAN.json]`.
pub fn apply(global: &GlobalArgs, a: &ApplyArgs) -> Result<Exit, Failure> {
    if let (true, Some(j)) = (a.in_place, a.journal) {
        if j.symlink_metadata().is_ok() {
            return Err(Failure::usage(format!(
                "{}: the journal exists; it may be the only undo of an earlier run. Give a new \
                 path. Nothing was written",
                j.display()
            )));
        }
    }
    let saved = a.plan.map(read_plan).transpose()?;
    let skip_checkpoint =
        a.image.skip_checkpoint || saved.as_ref().is_some_and(|p| p.skip_checkpoint);
    let server_name = match &saved {
        Some(p) => Some(p.target_server_name.clone()),
        None => a.image.server_name.clone(),
    };
    let opts = DiscoverOptions {
        server_name,
        // The pass verifies every page and the structure as it reads (each database read
        // once); in place nothing is written before the pass ends and the journal is sealed.
        verify_pages: false,
        count_rows: false,
        skip_checkpoint,
        // The pass takes the census as it reads (each database read once): an uncovered
        // place stops it where it is found, and whatever it wrote is removed.
        census: false,
        allow_uncovered: a.image.allow_uncovered.clone(),
    };
    let img = open_image(a.image)?;
    if let (false, Some(dir)) = (a.in_place, a.out) {
        refuse_inside_image(&img, dir, "the output directory")?;
    }
    if let (true, Some(j)) = (a.in_place, a.journal) {
        refuse_inside_image(&img, j, "the journal")?;
    }
    // Held to the end of the run, before anything is read: a run writing in place elsewhere
    // would be read half-written.
    let _lock = lock_image(&img)?;
    let inst = discover_in(img, &opts)?;
    refuse_problems(&inst)?;
    let profile = Profile::exchange55();
    let why = reasons(&inst, &profile);
    if why.is_empty() && !a.force {
        if !global.quiet && !global.json {
            println!("No patch needed: the stores and the registry agree; nothing was written (--force patches anyway).");
        }
        if global.json {
            print_json(&serde_json::json!({"patch_needed": false, "written": false}))?;
        }
        return Ok(Exit::Ok);
    }
    let mut plan = match saved {
        Some(p) => {
            let fresh = Plan::compute(
                &inst,
                &profile,
                &p.guids(),
                p.patch_time,
                p.seed.as_deref(),
                p.skip_checkpoint,
            )
            .map_err(|e| Failure::refused(e.0))?;
            let key = |s: &crate::patch::plan::StorePlan| {
                (
                    s.name,
                    s.path.clone(),
                    s.old_base_guid,
                    s.new_base_guid,
                    s.old_server_name.clone(),
                    s.new_server_name.clone(),
                    s.new_patch_count,
                )
            };
            let same_stores = fresh.stores.iter().map(key).eq(p.stores.iter().map(key));
            if fresh.registry_edits != p.registry_edits || !same_stores {
                return Err(Failure::refused(
                    "the image no longer gives the plan's edits (it changed since the plan); \
                     make a new plan. Nothing was written",
                ));
            }
            p
        }
        None => Plan::compute(
            &inst,
            &profile,
            &new_guids(a.seed),
            patch_time()?,
            a.seed,
            skip_checkpoint,
        )
        .map_err(|e| Failure::refused(e.0))?,
    };
    if let Some(w) = stale_mirror(&inst) {
        if !plan.warnings.contains(&w) {
            plan.warnings.push(w);
        }
    }
    for a in &a.image.allow_uncovered {
        if !plan.allowed_uncovered.contains(a) {
            plan.allowed_uncovered.push(a.clone());
        }
    }
    for w in &plan.warnings {
        super::say(format_args!("coldpatch: warning: {w}"));
    }
    let bar = progress_bar(global);
    let progress = |what: &str, done: u64, total: u64| {
        bar.set_message(what.to_string());
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = if a.in_place {
        let journal = a
            .journal
            .ok_or_else(|| Failure::usage("--in-place needs --journal FILE"))?;
        crate::patch::inplace::apply_in_place(&inst, &plan, journal, &progress)
            .map_err(apply_failure)?
    } else {
        let dir = a
            .out
            .ok_or_else(|| Failure::usage("give --out DIR or --in-place --journal FILE"))?;
        apply_out(&inst, &plan, dir, &[], &progress).map_err(apply_failure)?
    };
    bar.finish_and_clear();
    // Warnings found in the pass (the census's allowed places).
    for w in report
        .warnings
        .iter()
        .filter(|w| !plan.warnings.contains(w))
    {
        super::say(format_args!("coldpatch: warning: {w}"));
    }
    if global.json {
        print_json(&report)?;
    } else if !global.quiet {
        print!(
            "{}",
            summary(&report, a.out.map(Path::to_path_buf), a.journal)
        );
    }
    Ok(Exit::Ok)
}

/// The closing summary: stores, rows per table, registry values changed, output hashes.
fn summary(r: &Report, out: Option<PathBuf>, journal: Option<&Path>) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Patched for server {} ({}), {}",
        r.target_server_name, r.target_server_name_source, r.patch_time
    );
    for s in &r.stores {
        let _ = writeln!(
            o,
            "  {} {}: base GUID {} -> {}",
            s.name, s.path, s.old_base_guid, s.new_base_guid
        );
        let rows: Vec<String> = s
            .rows_rewritten
            .iter()
            .map(|(t, n)| match s.rows_foreign.get(t) {
                Some(f) => format!("{t} {n} ({f} foreign left alone)"),
                None => format!("{t} {n}"),
            })
            .collect();
        let _ = writeln!(o, "    rows rewritten: {}", rows.join(", "));
    }
    let _ = writeln!(o, "  registry values changed: {}", r.registry_edits.len());
    for f in &r.outputs {
        let _ = writeln!(o, "  {}  {}", f.sha256, f.path);
    }
    for w in &r.warnings {
        let _ = writeln!(o, "  warning: {w}");
    }
    match (out, journal) {
        (Some(dir), _) => {
            let _ = writeln!(
                o,
                "Written to {}: check with (cd {} && sha256sum -c SHA256SUMS)",
                dir.display(),
                dir.display()
            );
        }
        (None, Some(j)) => {
            let _ = writeln!(
                o,
                "Patched in place; to undo: coldpatch undo {}",
                j.display()
            );
        }
        _ => {}
    }
    o
}

/// `report DIR|JOURNAL [--out FILE]`: the case file written again from report.json and the
/// audit log beside it, once the two agree. Exit 2 when they cannot be read, 1 when they
/// disagree (nothing written), 3 when the case file cannot be written.
pub fn report(global: &GlobalArgs, target: &Path, out: Option<&Path>) -> Result<Exit, Failure> {
    use crate::manifest::audit::{read_places, AUDIT_FILE};
    use crate::manifest::html::{check_against_audit, render, Beside, CheckError, CASE_FILE};
    if !target.exists() {
        return Err(Failure::usage(format!(
            "{}: not found; give the output directory of apply --out or the journal of apply \
             --in-place",
            target.display()
        )));
    }
    let (report_path, audit_path, html_path, beside) = if target.is_dir() {
        (
            target.join("report.json"),
            target.join(AUDIT_FILE),
            target.join(CASE_FILE),
            Beside::out_dir(),
        )
    } else {
        let beside = |suffix: &str| {
            let mut p = target.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            beside(".report.json"),
            beside(&format!(".{AUDIT_FILE}")),
            beside(&format!(".{CASE_FILE}")),
            Beside::journal(&name),
        )
    };
    let unreadable = |p: &Path, e: &dyn std::fmt::Display| {
        Failure::usage(format!("{}: {e}; nothing was written", p.display()))
    };
    let text = std::fs::read(&report_path).map_err(|e| unreadable(&report_path, &e))?;
    let report: Report = serde_json::from_slice(&text).map_err(|e| unreadable(&report_path, &e))?;
    let audit = std::fs::File::open(&audit_path).map_err(|e| unreadable(&audit_path, &e))?;
    let total = audit.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(global);
    bar.set_length(total);
    bar.set_message(AUDIT_FILE.to_string());
    let places = read_places(bar.wrap_read(audit)).map_err(|e| unreadable(&audit_path, &e))?;
    match check_against_audit(&report, places) {
        Ok(()) => {}
        Err(CheckError::Unreadable(e)) => return Err(unreadable(&audit_path, &e)),
        Err(CheckError::Disagree(why)) => {
            return Err(Failure::refused(format!(
                "{} and {} disagree: {why}; the case file was not written",
                report_path.display(),
                audit_path.display()
            )))
        }
    }
    bar.finish_and_clear();
    let html = render(&report, &beside);
    let dest = out.unwrap_or(&html_path);
    crate::manifest::write_record(dest, html.as_bytes())
        .map_err(|e| Failure::write(format!("{}: {e}", dest.display())))?;
    if global.json {
        print_json(&serde_json::json!({
            "case_file": dest.display().to_string(),
            "bytes": html.len(),
            "audit_entries": report.audit_entries,
        }))?;
    } else if !global.quiet {
        println!(
            "{}: case file written ({}), checked against {} of the audit log",
            dest.display(),
            crate::text::count(html.len() as u64, "byte", "bytes"),
            crate::text::count(report.audit_entries, "entry", "entries"),
        );
    }
    Ok(Exit::Ok)
}
