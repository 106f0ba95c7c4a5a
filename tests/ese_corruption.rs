//! Bad input never panics and never loops: truncated files, a wrong magic, disagreeing header
//! copies, zeroed pages, links that loop or leave the file, and 10,000 seeded single-byte
//! flips across the samples. Every flip must be found by `verify`, and the readers (catalog,
//! row walks, record decoding, long values) must return errors, not panic.

mod ese_support;

use coldpatch::ese::btree::Database;
use coldpatch::ese::catalog::{walk_rows, Catalog, Storage};
use coldpatch::ese::checksum::stamp_page;
use coldpatch::ese::error::EseError;
use coldpatch::ese::longvalue::read_long_value;
use coldpatch::ese::node::Node;
use coldpatch::ese::verify::{verify_file, Problem};
use ese_support::*;
use std::ops::ControlFlow;
use std::process::Command;

fn verify_cli(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .args(["verify", "--json"])
        .arg(path)
        .output()
        .expect("run coldpatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Reads everything the reader can read; any error is fine, a panic is not.
fn read_everything(bytes: &[u8]) -> Result<u64, EseError> {
    let db = Database::open(bytes).map_err(|e| EseError::Catalog(e.to_string()))?;
    let catalog = Catalog::read(&db)?;
    let mut values = 0u64;
    for table in &catalog.tables {
        let _ = coldpatch::ese::catalog::table_pages(&db, table);
        walk_rows(&db, table, |row| {
            for c in &table.columns {
                let got = match c.storage {
                    Storage::Fixed => row
                        .record
                        .fixed(
                            c.fid,
                            c.fixed_offset.unwrap_or(4),
                            c.fixed_size.unwrap_or(0),
                        )
                        .map(|v| v.is_some()),
                    Storage::Variable => row.record.variable(c.fid).map(|v| v.is_some()),
                    Storage::Tagged => row.record.tagged_column(c.fid).map(|col| {
                        for inst in col.iter().flat_map(|c| c.instances.iter()) {
                            if inst.separated {
                                let _ = read_long_value(&db, table, inst.data);
                            }
                        }
                        col.is_some()
                    }),
                };
                if got? {
                    values += 1;
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
    }
    Ok(values)
}

fn page_size(bytes: &[u8]) -> usize {
    Database::open(bytes).unwrap().page_size as usize
}

#[test]
fn truncated_files_are_errors_or_findings() {
    for name in sample_names() {
        let bytes = sample_bytes(&name);
        let cb = page_size(&bytes);
        for len in [
            0,
            3,
            8,
            700,
            748,
            cb,
            2 * cb - 1,
            2 * cb,
            2 * cb + 100,
            5 * cb + 7,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let cut = &bytes[..len];
            match verify_file(cut, 1, &|_| {}) {
                Err(_) => assert!(len < 2 * cb, "{name} cut at {len}: header unreadable"),
                Ok(r) => {
                    assert!(!r.ok(), "{name} cut at {len} verified clean");
                }
            }
            let _ = read_everything(cut);
        }
    }
}

#[test]
fn cli_exit_codes_for_wrong_magic_header_mismatch_and_zeroed_pages() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = sample_bytes("basic.edb.gz");
    let cb = page_size(&bytes);

    // Not ESE, not regf: exit 2 naming the file.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"this is not a database at all, just words").unwrap();
    let (code, out) = verify_cli(&junk);
    assert_eq!(code, 2);
    assert!(out.contains("junk.bin"), "{out}");

    // Header copies that disagree: a finding at the shadow copy, exit 1.
    let mut bad = bytes.clone();
    bad[cb + 300] ^= 0x01;
    let mismatch = dir.path().join("mismatch.edb");
    std::fs::write(&mismatch, &bad).unwrap();
    let (code, out) = verify_cli(&mismatch);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let errors = v[0]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["offset"] == (cb + 300) as u64
        && e["what"].as_str().unwrap().contains("header copies differ")));
    assert!(errors.iter().any(|e| e["offset"] == cb as u64
        && e["what"]
            .as_str()
            .unwrap()
            .contains("shadow header checksum")));
    assert_eq!(v[0]["ok"], false);

    // A zeroed page that a tree links to: uninitialised is not a checksum error, but the
    // structure walk finds it. The catalog's root (page 4) and a table's root both count.
    let db = Database::open(&bytes).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let table = catalog.table("basic").unwrap();
    for pgno in [4u32, table.pgno_fdp] {
        let mut bad = bytes.clone();
        let off = (pgno as usize + 1) * cb;
        bad[off..off + cb].fill(0);
        let report = verify_file(&bad, 2, &|_| {}).unwrap();
        assert!(
            report
                .findings
                .iter()
                .any(|f| matches!(f.problem, Problem::Structure(_)) && f.page == Some(pgno)),
            "zeroed page {pgno}: {:?}",
            report.findings
        );
        let path = dir.path().join(format!("zero{pgno}.edb"));
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(verify_cli(&path).0, 1);
        assert!(read_everything(&bad).is_err());
    }

    // A dirty shutdown is a state, not corruption.
    let mut dirty = bytes.clone();
    dirty[52] = 2;
    coldpatch::ese::checksum::stamp_header(&mut dirty[..cb]);
    let copy = dirty[..cb].to_vec();
    dirty[cb..2 * cb].copy_from_slice(&copy);
    let path = dir.path().join("dirty.edb");
    std::fs::write(&path, &dirty).unwrap();
    let (code, out) = verify_cli(&path);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dirty_shutdown"));
}

/// Finds a branch page of the catalog and rewrites one child pointer.
fn relink_catalog_child(bytes: &mut [u8], to: u32) -> bool {
    let db = Database::open(bytes).unwrap();
    let cb = db.page_size as usize;
    let root = db.page(4, 0, "catalog").unwrap();
    if root.header.has(coldpatch::ese::page::flags::LEAF) {
        return false;
    }
    let node = Node::parse(&root, 1).unwrap();
    let at = node.data.base() as usize;
    bytes[at..at + 4].copy_from_slice(&to.to_le_bytes());
    let off = 5 * cb;
    stamp_page(&mut bytes[off..off + cb], 4);
    true
}

#[test]
fn tree_links_that_loop_or_leave_the_file_end_in_errors() {
    let mut relinked = 0;
    for name in sample_names() {
        let bytes = sample_bytes(&name);
        for to in [4u32, 1, 0, 0xFFFF_FFF0] {
            let mut bad = bytes.clone();
            if !relink_catalog_child(&mut bad, to) {
                continue;
            }
            relinked += 1;
            let err = read_everything(&bad).expect_err("relinked catalog must not read");
            match to {
                4 => assert!(matches!(err, EseError::Tree { pgno: 4, .. }), "{err}"),
                0 | 0xFFFF_FFF0 => assert!(matches!(err, EseError::PageOutOfRange { .. }), "{err}"),
                _ => {}
            }
            let report = verify_file(&bad, 1, &|_| {}).unwrap();
            assert!(!report.ok(), "{name}: relinked to {to} verified clean");
            // The checksum was restamped: only the structure walk can see it.
            assert!(report
                .findings
                .iter()
                .all(|f| matches!(f.problem, Problem::Structure(_))));
        }
    }
    assert!(relinked >= 4, "no sample has a multi-level catalog");
}

/// splitmix64: a small deterministic generator (no dependency, same flips on every run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn ten_thousand_seeded_byte_flips_are_found_and_never_panic() {
    const FLIPS: usize = 10_000;
    let names = sample_names();
    let mut rng = Rng(0x00C0_1D9A_7C11);
    let mut found = 0;
    let mut read_errors = 0;
    for (n, name) in names.iter().enumerate() {
        let mut bytes = sample_bytes(name);
        let cb = page_size(&bytes);
        // Flip only inside pages that hold something (and the headers): that is where the
        // parsers look. Zero pages are covered by the zeroed-page test.
        let live: Vec<usize> = (0..bytes.len() / cb)
            .filter(|&p| bytes[p * cb..(p + 1) * cb].iter().any(|&b| b != 0))
            .collect();
        let share = FLIPS / names.len() + usize::from(n < FLIPS % names.len());
        for _ in 0..share {
            let page = live[(rng.next() % live.len() as u64) as usize];
            let at = page * cb + (rng.next() % cb as u64) as usize;
            let mask = (rng.next() % 255 + 1) as u8;
            bytes[at] ^= mask;
            let report = match verify_file(&bytes, 1, &|_| {}) {
                Ok(r) => r,
                Err(e) => {
                    // Both copies unreadable can only come from the header pages.
                    assert!(at < 2 * cb, "{name}: flip at {at:#x}: {e}");
                    found += 1;
                    bytes[at] ^= mask;
                    continue;
                }
            };
            assert!(!report.ok(), "{name}: flip {mask:#x} at {at:#x} not found");
            assert!(report.findings.iter().any(|f| {
                let page_start = (at / cb * cb) as u64;
                f.offset >= page_start && f.offset < page_start + cb as u64
                    || (at < 2 * cb && f.offset < 2 * cb as u64)
            }));
            found += 1;
            if read_everything(&bytes).is_err() {
                read_errors += 1;
            }
            bytes[at] ^= mask;
        }
        // Restored exactly: the sample verifies again.
        assert!(verify_file(&bytes, 1, &|_| {}).unwrap().ok());
    }
    assert_eq!(found, FLIPS);
    assert!(read_errors > 0, "no flip ever disturbed a reader");
}

/// Flips `bit` at `offset` inside page `pgno` and writes the page checksum again, so only the
/// structure can tell.
fn restamped_flip(bytes: &[u8], pgno: u32, offset: usize, bit: u8) -> Vec<u8> {
    let cb = page_size(bytes);
    let mut bad = bytes.to_vec();
    let start = (pgno as usize + 1) * cb;
    let page = &mut bad[start..start + cb];
    page[offset] ^= 1 << bit;
    stamp_page(page, pgno);
    bad
}

/// The `cluster-small` fixture's `PRIV.EDB` (an ESE97 store that verifies clean).
fn cluster_small_priv() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cluster-small/E/exchsrvr/MDBDATA/PRIV.EDB"
    ))
    .unwrap()
}

/// The structure findings of `apply --out`'s in-pass check ([`LeafCheck`]), handed the pages
/// of `bytes` in order, as "offset problem".
fn in_pass_findings(bytes: &[u8]) -> Vec<String> {
    let cb = page_size(bytes);
    let mut check = coldpatch::ese::verify::LeafCheck::new(bytes, &|_| {});
    for (i, page) in bytes.chunks_exact(cb).enumerate().skip(2) {
        check.page((i - 1) as u32, page, (i * cb) as u64);
    }
    check
        .findings()
        .into_iter()
        .map(|f| format!("{:#x} {}", f.offset, f.problem))
        .collect()
}

/// Regression (corruption sweep): a node whose key lengths or tag no longer fit its page, or a
/// record whose column offsets no longer fit the record, with the page checksum made to match,
/// verified clean while `inspect` (and the patch pass) failed to read the table. verify now
/// reads every row and node the readers read.
#[test]
fn verify_flags_nodes_and_records_the_readers_reject_when_the_page_checksum_was_fixed() {
    // (sample, page, offset in the page, bit): from the sweep's mutants.
    let cases = [
        ("basic.edb.gz", 30, 0x22, 1),
        ("binary.edb.gz", 27, 0xfa2, 6),
        ("multi.edb.gz", 31, 0xff7, 0),
        ("multi.edb.gz", 28, 0xfe2, 6),
        ("test.edb.gz", 27, 0x23, 3),
        ("text.edb.gz", 27, 0xfde, 4),
    ];
    for (name, pgno, offset, bit) in cases {
        let bad = restamped_flip(&sample_bytes(name), pgno, offset, bit);
        let read = read_everything(&bad);
        assert!(read.is_err(), "{name} page {pgno}: the readers accept it");
        let report = verify_file(&bad, 2, &|_| {}).unwrap();
        assert!(
            report
                .findings
                .iter()
                .any(|f| matches!(f.problem, Problem::Structure(_))),
            "{name} page {pgno} offset {offset:#x} bit {bit}: verify passes what the readers \
             reject ({})",
            read.unwrap_err()
        );
        // The leaves are read on several threads; the finding is the first in page order
        // whatever their number.
        let shown = |threads| {
            let r = verify_file(&bad, threads, &|_| {}).unwrap();
            r.findings
                .iter()
                .map(|f| format!("{} {:?}", f.offset, f.problem))
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(1), shown(5), "{name} page {pgno}");
    }
}

/// Regression (corruption sweep): a leaf of a table's rows flagged as an index page, an ESE97
/// leaf whose `itagState` reserves tags (which hides lines from the readers), and a page its
/// parent-of-leaf parent names that is not flagged a leaf, each with the checksum made to
/// match, verified clean while the patch pass went past their rows (`apply` then refused
/// after writing: the old GUID left in them). verify checks each leaf's flags against its tree.
#[test]
fn verify_flags_leaves_whose_page_flags_do_not_fit_their_tree() {
    use coldpatch::ese::page::flags;
    let bytes = cluster_small_priv();
    assert!(verify_file(&bytes, 2, &|_| {}).unwrap().ok());
    let db = Database::open(&bytes).unwrap();
    assert!(db.header.revision <= 2, "the fixture is an ESE97 store");
    let catalog = Catalog::read(&db).unwrap();
    let msg = catalog.table("Msg").unwrap();
    let pages = db.tree_pages(msg.pgno_fdp, msg.objid).unwrap();
    let root = db.page(msg.pgno_fdp, 0, "root").unwrap();
    assert!(
        root.header.has(flags::PARENT_OF_LEAF),
        "Msg spans a root and its leaves"
    );
    let leaf = *pages
        .iter()
        .find(|&&p| db.page(p, 0, "leaf").unwrap().header.has(flags::LEAF))
        .unwrap();
    let flags_at = coldpatch::ese::page::offsets::FLAGS;
    let itag_state_high = coldpatch::ese::page::offsets::ITAG_STATE + 1;
    let cases = [
        (flags_at, 6, "flagged as an index"),
        (itag_state_high, 5, "reserves tags"),
        (flags_at, 1, "is not flagged a leaf"),
    ];
    for (offset, bit, expected) in cases {
        let bad = restamped_flip(&bytes, leaf, offset, bit);
        let shown = |threads| {
            verify_file(&bad, threads, &|_| {})
                .unwrap()
                .findings
                .iter()
                .map(|f| format!("{:#x} {}", f.offset, f.problem))
                .collect::<Vec<_>>()
        };
        let findings = shown(2);
        assert!(
            findings
                .iter()
                .any(|f| f.contains(expected) && f.contains("table Msg")),
            "page {leaf} offset {offset:#x} bit {bit}: {findings:?}"
        );
        assert_eq!(findings, shown(1));
        assert_eq!(findings, shown(3));
    }
}

/// verify decides per record whether its fixed columns can all be read (one comparison
/// against the table's fixed-column bounds) and reads them one by one only when not: a record
/// whose `fidFixedLastInRec` claims more fixed columns than its fixed area holds is still
/// flagged, by the column that does not fit, in verify and in apply's in-pass check alike.
#[test]
fn verify_flags_a_record_whose_fixed_columns_overrun_its_fixed_area() {
    use coldpatch::ese::record::{Record, FID_FIXED_LAST};
    let bytes = cluster_small_priv();
    assert!(verify_file(&bytes, 2, &|_| {}).unwrap().ok());
    let db = Database::open(&bytes).unwrap();
    let catalog = Catalog::read(&db).unwrap();
    let msg = catalog.table("Msg").unwrap();
    // The first row of Msg: its page and where its record starts in the file.
    let mut first = None;
    db.walk(
        msg.pgno_fdp,
        msg.objid,
        |_| {},
        |e| {
            if !e.node.is_deleted() {
                first = Some((e.page.pgno, e.node.data.base(), e.node.data));
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        },
    )
    .unwrap();
    let (pgno, at, data) = first.unwrap();
    let record = Record::parse(data, db.record_form(&db.page(pgno, 0, "leaf").unwrap())).unwrap();
    // Eight more fixed fids: a NULL bitmap one byte longer, in a fixed area of the same size.
    let claimed = (u16::from(record.fid_fixed_last) + 8).min(FID_FIXED_LAST) as u8;
    assert!(claimed > record.fid_fixed_last);
    let mut bad = bytes.clone();
    bad[at as usize] = claimed;
    let cb = page_size(&bytes);
    let start = (pgno as usize + 1) * cb;
    stamp_page(&mut bad[start..start + cb], pgno);

    let findings: Vec<String> = verify_file(&bad, 2, &|_| {})
        .unwrap()
        .findings
        .iter()
        .map(|f| format!("{:#x} {}", f.offset, f.problem))
        .collect();
    assert!(
        findings
            .iter()
            .any(|f| f.contains("table Msg rows") && f.contains("fixed column")),
        "{findings:?}"
    );
    assert_eq!(in_pass_findings(&bad), findings);
}

/// `apply --out` checks the structure in its own pass ([`LeafCheck`], handed the pages it
/// reads in order): for intact files and for every damaged one of the regression cases above,
/// it finds exactly the structure findings `verify` finds.
#[test]
fn the_structure_check_of_a_pass_finds_what_verify_finds() {
    let structure = |bytes: &[u8]| -> Vec<String> {
        verify_file(bytes, 2, &|_| {})
            .unwrap()
            .findings
            .into_iter()
            .filter(|f| matches!(f.problem, Problem::Structure(_)))
            .map(|f| format!("{:#x} {}", f.offset, f.problem))
            .collect()
    };
    let fixture = cluster_small_priv();
    let mut files = vec![fixture.clone(), sample_bytes("multi.edb.gz")];
    for (pgno, offset, bit) in [(50, 0x24, 6), (55, 0x23, 5)] {
        files.push(restamped_flip(&fixture, pgno, offset, bit));
    }
    for (name, pgno, offset, bit) in [
        ("basic.edb.gz", 30, 0x22, 1),
        ("binary.edb.gz", 27, 0xfa2, 6),
        ("multi.edb.gz", 28, 0xfe2, 6),
        ("text.edb.gz", 27, 0xfde, 4),
    ] {
        files.push(restamped_flip(&sample_bytes(name), pgno, offset, bit));
    }
    let mut damaged = 0;
    for (i, bytes) in files.iter().enumerate() {
        let expected = structure(bytes);
        damaged += usize::from(!expected.is_empty());
        assert_eq!(in_pass_findings(bytes), expected, "file {i}");
    }
    assert_eq!(
        damaged,
        files.len() - 2,
        "every mutant is damaged in its structure"
    );
}
