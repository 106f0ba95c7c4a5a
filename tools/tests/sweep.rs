//! The corruption sweeps (README "Corruption sweeps"): 10,000 seeded mutants of every sample
//! and of every fixture image through `verify`, `inspect`, `reg export` and `apply` (`--out`,
//! and `--in-place` on what `verify` flags), in-process in the `sweep` driver (two child
//! processes, each under an address-space limit and a per-mutant time bound), and a
//! deterministic few hundred through the real `coldpatch` binary for its exit codes and
//! messages.

#[path = "runner/mod.rs"]
mod runner;

use coldpatch_tools::sweep::mutate::{mutant, FileKind, Layout};
use coldpatch_tools::sweep::{apply_args, image_target, sample_targets, Target};
use runner::{coldpatch_bin, tree_hashes};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MUTANTS: u64 = 10_000;
const SEED: &str = "24301";
/// The driver's address-space limit (a runaway allocation ends the sweep).
const MAX_MEMORY_MIB: &str = "2048";
/// Per mutant, through every verb.
const TIME_LIMIT_SECS: &str = "20";
/// The whole in-process sweep, against a driver that stops making progress.
const SWEEP_BOUND: Duration = Duration::from_secs(40 * 60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn samples() -> PathBuf {
    root().join("../shared/samples")
}

fn fixtures() -> Vec<PathBuf> {
    ["cluster-small", "standalone-small"]
        .iter()
        .map(|f| root().join("fixtures").join(f))
        .collect()
}

/// Scratch space in memory when there is some (mutants are written and read many times).
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// Waits for `child` up to `bound`; kills it and fails past it.
fn wait_bounded(child: &mut std::process::Child, bound: Duration, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {bound:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ten_thousand_mutants_of_every_sample_and_fixture_keep_the_properties() {
    let dir = scratch();
    let expected_targets = sample_targets(&samples()).unwrap().len() + fixtures().len();
    assert!(expected_targets >= 20, "{expected_targets} targets");
    // Two halves of every target's mutant indexes, one per core.
    let half = MUTANTS / 2;
    let mut children = Vec::new();
    for (k, first) in [0, half].into_iter().enumerate() {
        let report = dir.path().join(format!("report{k}.txt"));
        let work = dir.path().join(format!("work{k}"));
        std::fs::create_dir_all(&work).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep"));
        cmd.arg("--samples").arg(samples());
        for f in fixtures() {
            cmd.arg("--image").arg(f);
        }
        cmd.args(["--seed", SEED, "--first", &first.to_string()])
            .args(["--mutants", &half.to_string()])
            .args(["--max-memory-mib", MAX_MEMORY_MIB])
            .args(["--time-limit", TIME_LIMIT_SECS])
            .arg("--scratch")
            .arg(&work)
            .arg("--report")
            .arg(&report)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        children.push((cmd.spawn().unwrap(), report));
    }
    let mut failures = Vec::new();
    let mut mutants = 0u64;
    for (mut child, report) in children {
        let code = wait_bounded(&mut child, SWEEP_BOUND, "sweep");
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        eprintln!("{text}");
        let total = text
            .lines()
            .find_map(|l| l.strip_prefix("TOTAL targets "))
            .unwrap_or_else(|| panic!("no TOTAL line (exit {code}):\n{text}"));
        let words: Vec<&str> = total.split_whitespace().collect();
        assert_eq!(words[0], expected_targets.to_string(), "{total}");
        mutants += words[2].parse::<u64>().unwrap();
        if code != 0 {
            failures.push(format!("sweep exit {code}:\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(mutants, MUTANTS * expected_targets as u64);
}

/// Runs the real binary with a time bound: (exit code, stdout + stderr).
fn run(args: &[&std::ffi::OsStr], what: &str) -> (i32, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let (o, e) = (out_dir.path().join("o"), out_dir.path().join("e"));
    let mut child = Command::new(coldpatch_bin())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(args)
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    let code = wait_bounded(&mut child, Duration::from_secs(60), what);
    let text = std::fs::read_to_string(&o).unwrap_or_default()
        + &std::fs::read_to_string(&e).unwrap_or_default();
    (code, text)
}

fn check_exit(code: i32, text: &str, what: &str) {
    assert!(
        (0..=2).contains(&code),
        "{what}: exit {code} (0, 1 or 2 expected):\n{text}"
    );
    if code != 0 {
        assert!(
            text.trim().len() > 10,
            "{what}: exit {code} without a message"
        );
    }
}

/// Mutant indexes the binary sees: spread over the index range, the same every run.
fn indexes(n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| i * (MUTANTS / n) + i % 7)
}

#[test]
fn a_few_hundred_mutants_through_the_coldpatch_binary_exit_0_1_or_2_with_a_message() {
    let seed: u64 = SEED.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut runs = 0;
    for t in sample_targets(&samples()).unwrap() {
        let Target::File {
            name,
            file_name,
            kind,
            bytes,
            beside,
        } = t
        else {
            continue;
        };
        let d = dir.path().join(name.replace('/', "_"));
        std::fs::create_dir_all(&d).unwrap();
        for (n, b) in &beside {
            std::fs::write(d.join(n), b).unwrap();
        }
        let path = d.join(&file_name);
        let layout = Layout::of(kind, &bytes);
        for i in indexes(6) {
            let m = mutant(&bytes, &layout, seed, &name, i);
            std::fs::write(&path, &m.bytes).unwrap();
            let what = format!("{name} mutant {i} ({})", m.what);
            let (vcode, text) = run(&["verify".as_ref(), path.as_os_str()], &what);
            check_exit(vcode, &text, &format!("verify {what}"));
            let reader: Vec<&std::ffi::OsStr> = if kind == FileKind::Ese {
                vec!["inspect".as_ref(), path.as_os_str()]
            } else {
                vec!["reg".as_ref(), "export".as_ref(), path.as_os_str()]
            };
            let (code, text) = run(&reader, &what);
            check_exit(code, &text, &format!("{reader:?} {what}"));
            if vcode == 0 {
                assert_eq!(
                    code, 0,
                    "verify passes {what} but {reader:?} fails:\n{text}"
                );
            }
            runs += 2;
        }
    }
    for f in fixtures() {
        let Target::Image {
            name,
            dir: src,
            files,
        } = image_target(&f).unwrap()
        else {
            unreachable!()
        };
        let image = dir.path().join(name.replace('/', "_"));
        let st = Command::new("cp")
            .arg("-r")
            .arg(&src)
            .arg(&image)
            .status()
            .unwrap();
        assert!(st.success());
        for i in indexes(3 * files.len() as u64) {
            let which = (i % files.len() as u64) as usize;
            let (rel, kind, bytes) = &files[which];
            let label = format!("{name}/{}", rel.display());
            let m = mutant(bytes, &Layout::of(*kind, bytes), seed, &label, i);
            let path = image.join(rel);
            std::fs::write(&path, &m.bytes).unwrap();
            let what = format!("{label} mutant {i} ({})", m.what);
            let (vcode, text) = run(&["verify".as_ref(), path.as_os_str()], &what);
            check_exit(vcode, &text, &format!("verify {what}"));
            let out = dir.path().join("out");
            let (code, text) = run(
                &apply_args(&image, &["--out".as_ref(), out.as_os_str()]),
                &what,
            );
            check_exit(code, &text, &format!("apply --out {what}"));
            if vcode != 0 {
                assert_ne!(code, 0, "verify flags {what} but apply --out succeeds");
                let left: Vec<_> = std::fs::read_dir(&out)
                    .map(|rd| rd.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                assert!(left.is_empty(), "apply --out of {what} left {left:?}");
                // In place the file is refused as well, before the journal is sealed: the
                // image as it was, no journal and nothing beside it.
                let beside = dir.path().join("journal");
                std::fs::create_dir_all(&beside).unwrap();
                let before = tree_hashes(&image);
                let journal = beside.join("j");
                let in_place = [
                    "--in-place".as_ref(),
                    "--journal".as_ref(),
                    journal.as_os_str(),
                ];
                let (code, text) = run(&apply_args(&image, &in_place), &what);
                check_exit(code, &text, &format!("apply --in-place {what}"));
                assert_ne!(code, 0, "verify flags {what} but apply --in-place succeeds");
                assert!(
                    tree_hashes(&image) == before,
                    "apply --in-place of {what} changed the image"
                );
                let left: Vec<_> = std::fs::read_dir(&beside)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                assert!(left.is_empty(), "apply --in-place of {what} left {left:?}");
                runs += 1;
            }
            let _ = std::fs::remove_dir_all(&out);
            std::fs::write(&path, bytes).unwrap();
            runs += 2;
        }
    }
    assert!(runs >= 250, "{runs} runs");
}

/// A copy of the cluster fixture with `rel` replaced by what `damage` makes of it; `apply
/// --out` must refuse it (exit 1, naming the file) and write nothing, and `verify` flag it.
fn apply_refuses_damaged(rel: &str, damage: impl Fn(&mut [u8])) {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image");
    let st = Command::new("cp")
        .arg("-r")
        .arg(&fixtures()[0])
        .arg(&image)
        .status()
        .unwrap();
    assert!(st.success());
    let path = image.join(rel);
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let (code, text) = run(&["verify".as_ref(), path.as_os_str()], rel);
    assert_eq!(code, 1, "verify {rel}:\n{text}");
    let out = dir.path().join("out");
    let (code, text) = run(
        &apply_args(&image, &["--out".as_ref(), out.as_os_str()]),
        rel,
    );
    assert_eq!(code, 1, "apply --out with {rel} damaged:\n{text}");
    assert!(text.contains(rel), "the refusal names {rel}:\n{text}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "apply --out left {left:?}");
}

/// A used cell's size made to reach past the end of its bin.
fn cell_past_its_bin(bytes: &mut [u8]) {
    let layout = coldpatch_tools::sweep::mutate::RegfLayout::of(bytes);
    let c = layout.cells.iter().find(|c| c.size < 0).unwrap();
    let size = -((c.bin_end - c.at + 8) as i32);
    bytes[c.at..c.at + 4].copy_from_slice(&size.to_le_bytes());
}

/// Regression (corruption sweep): `apply --out` read SOFTWARE and the cluster hive without
/// checking them and wrote its outputs from an image whose SOFTWARE or CLUSDB `verify` flags.
#[test]
fn apply_out_refuses_an_image_whose_software_or_cluster_hive_does_not_verify() {
    apply_refuses_damaged("C/WINNT/system32/config/SOFTWARE", cell_past_its_bin);
    apply_refuses_damaged("C/WINNT/Cluster/CLUSDB", cell_past_its_bin);
}

/// Regression (corruption sweep): `apply --out` checks the checksum of each page its pass
/// reads but decodes only the tables it patches, so a damaged record in another table (its
/// page checksum fixed) was copied into the output although `verify` flags it.
#[test]
fn apply_out_refuses_a_database_whose_unpatched_table_does_not_verify() {
    apply_refuses_damaged("E/exchsrvr/MDBDATA/PUB.EDB", |bytes| {
        // Page 28 holds MSysObjectsShadow rows; a bit of a record's fidVarLastInRec.
        let (pgno, cb) = (28usize, 4096usize);
        let page = &mut bytes[(pgno + 1) * cb..(pgno + 2) * cb];
        page[0xff3] ^= 1 << 3;
        coldpatch::ese::checksum::stamp_page(page, pgno as u32);
    });
}

/// Regression (corruption sweep): a value name with a line break (a hive that verifies) is
/// refused by `reg export`, which no .reg file can hold, and the refusal told the user to
/// export without `--regedit4`, which they had not given; it now names `--json`, which reads it.
#[test]
fn reg_export_of_a_name_no_reg_file_holds_names_json_not_regedit4() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes =
        coldpatch_tools::sweep::read_sample(&samples().join("regf/testhive.gz")).unwrap();
    // The value "reg-expand-sz": its second `-` becomes a carriage return.
    assert_eq!(bytes[0x1402], b'-');
    bytes[0x1402] ^= 1 << 5;
    let hive = dir.path().join("testhive");
    std::fs::write(&hive, &bytes).unwrap();
    let (code, text) = run(&["verify".as_ref(), hive.as_os_str()], "verify");
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(
        &["reg".as_ref(), "export".as_ref(), hive.as_os_str()],
        "export",
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("line break") && text.contains("--json") && !text.contains("--regedit4"),
        "{text}"
    );
    let (code, text) = run(
        &[
            "--json".as_ref(),
            "reg".as_ref(),
            "export".as_ref(),
            hive.as_os_str(),
        ],
        "export --json",
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("reg-expand\\rsz"),
        "the name with its line break"
    );
}
