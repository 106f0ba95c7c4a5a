//! The checked-in man pages (`man/` at the repository root): exactly what the clap definitions
//! render today (fails when the command line changed and the pages were not regenerated), and
//! each one formats without a warning in man-db's `man` and in groff (both installed by
//! scripts/test.sh).

use coldpatch_tools::man;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .join("man")
}

/// Every file under `man/`, by name (subdirectories included, by their path inside it).
fn checked_in() -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("read man/");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let path = entry.path();
            if path.is_dir() {
                walk(&path, &format!("{name}/"), files);
            } else {
                files.insert(name, std::fs::read(&path).expect("read a page"));
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&man_dir(), "", &mut files);
    files
}

#[test]
fn checked_in_pages_match_the_command_line() {
    let rendered: BTreeMap<String, Vec<u8>> = man::pages().into_iter().collect();
    let on_disk = checked_in();
    let mut problems = Vec::new();
    for (name, roff) in &rendered {
        match on_disk.get(name) {
            None => problems.push(format!("man/{name} is missing")),
            Some(bytes) if bytes != roff => {
                problems.push(format!("man/{name} differs from the command line"))
            }
            Some(_) => {}
        }
    }
    for name in on_disk.keys().filter(|n| !rendered.contains_key(*n)) {
        problems.push(format!("man/{name} is extra: no such page any more"));
    }
    assert!(
        problems.is_empty(),
        "the man pages are out of date:\n  {}\nregenerate them from the repository root with:\n  {}",
        problems.join("\n  "),
        man::REGENERATE
    );
}

/// `coldpatch.1` and `coldpatch-VERB[-SUBVERB...].1` for every verb clap defines, at any
/// depth, and nothing else (no page for clap's `help`).
#[test]
fn one_page_per_command_and_verb() {
    fn expected(cmd: &clap::Command, stem: &str, names: &mut Vec<String>) {
        names.push(format!("{stem}.1"));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            expected(sub, &format!("{stem}-{}", sub.get_name()), names);
        }
    }
    let cmd = <coldpatch::cli::Cli as clap::CommandFactory>::command();
    let mut want = Vec::new();
    expected(&cmd, cmd.get_name(), &mut want);
    want.sort();
    let names: Vec<String> = man::pages().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, want);
    assert!(names.len() > 2 && names.contains(&"coldpatch-reg-export.1".to_string()));
    // Deterministic: the same definitions give the same bytes.
    assert_eq!(man::pages(), man::pages());
}

fn assert_formats_cleanly(page: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (scripts/test.sh installs it)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{program} {} {}: {}, stderr:\n{stderr}",
        args.join(" "),
        page.display(),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if !args.contains(&"-z") {
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{program} {}: no NAME or SYNOPSIS in\n{text}",
            page.display()
        );
    }
}

#[test]
fn every_page_formats_without_warnings() {
    let names: Vec<String> = checked_in().into_keys().collect();
    assert!(
        names.iter().any(|n| n == "coldpatch.1"),
        "no man/coldpatch.1 (run {})",
        man::REGENERATE
    );
    for name in names {
        let page = man_dir().join(&name);
        // As the README says to read them, with man-db's warnings on.
        assert_formats_cleanly(&page, "man", &["-l", "--warnings"]);
        // groff with every warning.
        assert_formats_cleanly(&page, "groff", &["-man", "-Tutf8", "-ww", "-z"]);
    }
}
