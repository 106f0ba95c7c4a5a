//! Properties of the content mkimage generates (row streams, key trees, options), checked
//! without writing files.

use coldpatch::ese::write::{ColumnType, Storage, TableDef, Value};
use coldpatch::exchange::names::validate_server_name;
use coldpatch::exchange::profile::{column, table};
use coldpatch::exchange::{Guid, StoreKind};
use coldpatch_tools::mkimage::hives::{apply_edits, dirty_system, tree_diff, TreeDiff};
use coldpatch_tools::mkimage::params::{ImageParams, Layout, Scenario};
use coldpatch_tools::mkimage::rows::{
    expected_counts, guid_column, table_defs, table_rows, StoreCounts,
};
use coldpatch_tools::mkimage::run::{build_options, trees, Trees};
use coldpatch_tools::mkimage::spec::ImageSpec;
use std::collections::{BTreeMap, BTreeSet};

fn params(layout: Layout, scenario: Scenario) -> ImageParams {
    ImageParams {
        layout,
        scenario,
        folders: 23,
        messages: 211,
        body_bytes: 64,
        foreign: 20,
        seed: "content-test".into(),
        ..ImageParams::default()
    }
}

/// Every row of every table of one store, in stream order.
fn all_rows(spec: &ImageSpec, kind: StoreKind) -> Vec<(String, Vec<Vec<Value>>)> {
    table_defs(spec, kind)
        .into_iter()
        .map(|d| {
            let rows = table_rows(spec, kind, &d.name).collect();
            (d.name, rows)
        })
        .collect()
}

/// Counts computed by consuming the streams: rows per table, rows per GUID of the GUID column.
fn stream_counts(spec: &ImageSpec, kind: StoreKind) -> StoreCounts {
    let mut c = StoreCounts::default();
    for def in table_defs(spec, kind) {
        let guid_at =
            guid_column(&def.name).and_then(|g| def.columns.iter().position(|col| col.name == g));
        let mut n = 0u64;
        let mut by: BTreeMap<String, u64> = BTreeMap::new();
        for row in table_rows(spec, kind, &def.name) {
            n += 1;
            if let Some(i) = guid_at {
                let Value::Binary(b) = &row[i] else {
                    panic!("{}: GUID column is not Binary", def.name)
                };
                let g = Guid::from_windows_bytes(b.as_slice().try_into().unwrap());
                *by.entry(g.to_string()).or_insert(0) += 1;
            }
        }
        c.rows.insert(def.name.clone(), n);
        if guid_at.is_some() {
            c.by_guid.insert(def.name.clone(), by);
        }
    }
    c
}

fn value_fits(v: &Value, coltyp: ColumnType) -> bool {
    matches!(
        (v, coltyp),
        (Value::Long(_), ColumnType::Long)
            | (Value::Currency(_), ColumnType::Currency)
            | (Value::DateTime(_), ColumnType::DateTime)
            | (Value::Binary(_), ColumnType::Binary)
            | (Value::Text(_), ColumnType::Text)
            | (Value::LongBinary(_), ColumnType::LongBinary)
    )
}

fn key_of(v: &Value) -> i64 {
    match v {
        Value::Long(x) => i64::from(*x),
        Value::Currency(x) => *x,
        other => panic!("primary key of type {other:?}"),
    }
}

fn check_rows_against_defs(defs: &[TableDef], rows: &[(String, Vec<Vec<Value>>)]) {
    for (def, (name, rows)) in defs.iter().zip(rows) {
        assert_eq!(&def.name, name);
        let pk = def.indexes.iter().find(|i| i.primary).unwrap();
        let pk_col = def
            .columns
            .iter()
            .position(|c| c.name == pk.columns[0].0)
            .unwrap();
        let mut last = None;
        for row in rows {
            assert_eq!(row.len(), def.columns.len(), "{name}: one value per column");
            for (v, c) in row.iter().zip(&def.columns) {
                assert!(value_fits(v, c.coltyp), "{name}.{}: {v:?}", c.name);
                let len = match v {
                    Value::Binary(b) | Value::LongBinary(b) => b.len(),
                    Value::Text(t) => t.len(),
                    _ => 0,
                };
                if matches!(c.coltyp, ColumnType::Binary) && c.storage == Storage::Fixed {
                    assert_eq!(len as u32, c.max_len, "{name}.{}", c.name);
                } else {
                    assert!(
                        len as u32 <= c.max_len,
                        "{name}.{} {len} > {}",
                        c.name,
                        c.max_len
                    );
                }
                if let Value::Text(t) = v {
                    assert!(t.is_ascii(), "{name}.{}: code page 1252 text", c.name);
                }
            }
            let k = key_of(&row[pk_col]);
            if let Some(prev) = last {
                assert!(k > prev, "{name}: primary keys ascending ({prev} then {k})");
            }
            last = Some(k);
        }
    }
}

#[test]
fn rows_fit_the_schema_with_ascending_primary_keys() {
    for layout in [Layout::Cluster, Layout::Standalone] {
        let spec = ImageSpec::new(&params(layout, Scenario::Restored));
        for kind in StoreKind::ALL {
            let defs = table_defs(&spec, kind);
            let rows = all_rows(&spec, kind);
            check_rows_against_defs(&defs, &rows);
            let globals = &rows.iter().find(|(n, _)| n == table::GLOBALS).unwrap().1;
            assert_eq!(globals.len(), 1, "Globals has exactly one row");
        }
    }
}

#[test]
fn same_parameters_give_the_same_content_and_other_seeds_differ() {
    let p = params(Layout::Cluster, Scenario::Restored);
    let a = ImageSpec::new(&p);
    let b = ImageSpec::new(&p);
    assert_eq!(a, b);
    assert_eq!(trees(&a), trees(&b));
    for kind in StoreKind::ALL {
        assert_eq!(all_rows(&a, kind), all_rows(&b, kind));
        assert_eq!(build_options(&a, kind), build_options(&b, kind));
    }

    let other = ImageSpec::new(&ImageParams {
        seed: "another seed".into(),
        ..p
    });
    for kind in StoreKind::ALL {
        assert_ne!(a.store(kind).base_guid, other.store(kind).base_guid);
        let rows_a = all_rows(&a, kind);
        let rows_b = all_rows(&other, kind);
        for ((name, ra), (_, rb)) in rows_a.iter().zip(&rows_b) {
            assert_ne!(ra, rb, "{name} differs under another seed");
        }
        assert_ne!(
            build_options(&a, kind).signature_random,
            build_options(&other, kind).signature_random
        );
    }
    let (ta, tb) = (trees(&a), trees(&other));
    assert_ne!(ta.system, tb.system);
    assert_ne!(ta.clusdb, tb.clusdb, "cluster ids follow the seed");
}

#[test]
fn expected_counts_equal_counts_of_the_streams() {
    for foreign in [0u8, 1, 20, 50, 80, 100] {
        for (folders, messages) in [(1u64, 0u64), (7, 33), (23, 211)] {
            let p = ImageParams {
                folders,
                messages,
                foreign,
                ..params(Layout::Cluster, Scenario::Restored)
            };
            let spec = ImageSpec::new(&p);
            for kind in StoreKind::ALL {
                assert_eq!(
                    expected_counts(&spec, kind),
                    stream_counts(&spec, kind).without_zeros(),
                    "foreign {foreign} folders {folders} messages {messages} {kind:?}"
                );
            }
        }
    }
}

trait WithoutZeros {
    fn without_zeros(self) -> Self;
}

impl WithoutZeros for StoreCounts {
    fn without_zeros(mut self) -> Self {
        for m in self.by_guid.values_mut() {
            m.retain(|_, n| *n > 0);
        }
        self
    }
}

#[test]
fn foreign_share_is_honoured_within_rounding_with_several_foreign_guids() {
    for foreign in [0u8, 5, 20, 33, 50, 75, 80, 100] {
        let p = ImageParams {
            folders: 200,
            messages: 999,
            foreign,
            ..params(Layout::Cluster, Scenario::Restored)
        };
        let spec = ImageSpec::new(&p);
        for kind in StoreKind::ALL {
            let own = spec.store(kind).base_guid.to_string();
            let counts = stream_counts(&spec, kind);
            for (tbl, by) in &counts.by_guid {
                let total: u64 = by.values().sum();
                let foreign_rows = total - by.get(&own).copied().unwrap_or(0);
                let exact = total as f64 * f64::from(foreign) / 100.0;
                assert!(
                    (foreign_rows as f64 - exact).abs() <= 1.0,
                    "{kind:?} {tbl}: {foreign_rows} of {total} rows foreign, want {foreign}%"
                );
                let distinct_foreign = by.iter().filter(|(g, n)| **g != own && **n > 0).count();
                if foreign_rows >= 4 {
                    assert!(
                        distinct_foreign >= 2,
                        "{kind:?} {tbl}: several foreign GUIDs"
                    );
                }
                if tbl == table::REPL_STATE && foreign < 100 {
                    assert_eq!(by.get(&own).copied(), Some(p.folders), "own row per folder");
                }
            }
            assert_eq!(
                counts.by_guid.contains_key(table::REPL_STATE),
                kind == StoreKind::Pub,
                "ReplState in PUB.EDB only"
            );
        }
    }
}

#[test]
fn repl_state_has_one_row_per_folder_and_replica() {
    let spec = ImageSpec::new(&params(Layout::Cluster, Scenario::Restored));
    let defs = table_defs(&spec, StoreKind::Pub);
    let def = defs.iter().find(|d| d.name == table::REPL_STATE).unwrap();
    let fi = def
        .columns
        .iter()
        .position(|c| c.name == column::FOLDER_ID)
        .unwrap();
    let gi = def
        .columns
        .iter()
        .position(|c| c.name == column::SERVER_GUID)
        .unwrap();
    let mut seen = BTreeSet::new();
    for row in table_rows(&spec, StoreKind::Pub, table::REPL_STATE) {
        let folder = key_of(&row[fi]);
        assert!((1..=spec.params.folders as i64).contains(&folder));
        assert!(
            seen.insert((folder, format!("{:?}", row[gi]))),
            "duplicate replica row"
        );
    }
}

/// Paths of the leaves where two JSON values differ.
fn json_diff(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut BTreeSet<String>) {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => json_diff(va, vb, &sub, out),
                    _ => {
                        out.insert(sub);
                    }
                }
            }
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_diff(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => {
            out.insert(path.to_string());
        }
        _ => {}
    }
}

fn spec_diff(a: &ImageSpec, b: &ImageSpec) -> BTreeSet<String> {
    let mut ja = serde_json::to_value(a).unwrap();
    let mut jb = serde_json::to_value(b).unwrap();
    ja.as_object_mut().unwrap().remove("params");
    jb.as_object_mut().unwrap().remove("params");
    let mut out = BTreeSet::new();
    json_diff(&ja, &jb, "", &mut out);
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn trees_diff(a: &Trees, b: &Trees) -> BTreeMap<&'static str, Vec<TreeDiff>> {
    let mut m = BTreeMap::new();
    let mut put = |name, d: Vec<TreeDiff>| {
        if !d.is_empty() {
            m.insert(name, d);
        }
    };
    put("SYSTEM", tree_diff(&a.system, &b.system));
    put("SYSTEM.ALT", tree_diff(&a.system_alt, &b.system_alt));
    put("SOFTWARE", tree_diff(&a.software, &b.software));
    if let (Some(x), Some(y)) = (&a.clusdb, &b.clusdb) {
        put("CLUSDB", tree_diff(x, y));
    }
    if let (Some(x), Some(y)) = (&a.checkpoint, &b.checkpoint) {
        put("CPT", tree_diff(x, y));
    }
    m
}

#[test]
fn each_scenario_differs_from_restored_by_exactly_its_defect() {
    for layout in [Layout::Cluster, Layout::Standalone] {
        let base = ImageSpec::new(&params(layout, Scenario::Restored));
        let base_trees = trees(&base);
        for scenario in Scenario::ALL {
            if scenario == Scenario::MissingCheckpoint && layout == Layout::Standalone {
                continue; // refused by validation, see the image tests
            }
            let spec = ImageSpec::new(&params(layout, scenario));
            let d = spec_diff(&base, &spec);
            let cluster = layout == Layout::Cluster;
            let expected: BTreeSet<String> = match scenario {
                Scenario::Restored => set(&[]),
                Scenario::Patched => {
                    let mut s = BTreeSet::new();
                    for i in 0..2 {
                        for f in [
                            "base_guid",
                            "server_name",
                            "patch_state",
                            "patch_count",
                            "patch_time",
                        ] {
                            s.insert(format!("stores[{i}].{f}"));
                        }
                    }
                    let mut places = vec!["system", "system_alt"];
                    if cluster {
                        places.push("checkpoint");
                    }
                    for p in places {
                        for f in ["priv_base_guid", "pub_base_guid", "server_name"] {
                            s.insert(format!("{p}.{f}"));
                        }
                    }
                    s
                }
                Scenario::DirtyDb => set(&["stores[0].clean_shutdown"]),
                Scenario::BadPage => set(&["stores[0].bad_page"]),
                Scenario::DirtyHive => set(&["system_dirty"]),
                Scenario::RestoreInProgress => set(&[
                    "system.restore_in_progress",
                    "system_alt.restore_in_progress",
                ]),
                Scenario::MissingCheckpoint => set(&["cluster.checkpoint_present"]),
                Scenario::StaleAlt => set(&[
                    "system_alt.priv_base_guid",
                    "system_alt.pub_base_guid",
                    "system_alt.server_name",
                    "system_alt.sequence",
                    "system_alt.timestamp",
                ]),
                Scenario::IndexedGuid => set(&["stores[0].extra_indexes"]),
                Scenario::HiddenGuid => set(&["stores[0].hidden_guid"]),
            };
            assert_eq!(d, expected, "{layout:?} {scenario:?}: spec");

            // Row streams: identical unless the GUIDs and names changed (patched) or a table
            // was added (hidden-guid's Attach in PRIV.EDB).
            for kind in StoreKind::ALL {
                let hidden = scenario == Scenario::HiddenGuid && kind == StoreKind::Priv;
                let same_rows = all_rows(&base, kind) == all_rows(&spec, kind);
                assert_eq!(
                    same_rows,
                    scenario != Scenario::Patched && !hidden,
                    "{scenario:?} {kind:?} rows"
                );
                let opts_diff = build_options(&base, kind) != build_options(&spec, kind);
                assert_eq!(
                    opts_diff,
                    scenario == Scenario::DirtyDb && kind == StoreKind::Priv,
                    "{scenario:?} {kind:?} build options"
                );
                let extra = table_defs(&spec, kind)
                    .iter()
                    .map(|t| t.indexes.len())
                    .sum::<usize>()
                    - table_defs(&base, kind)
                        .iter()
                        .map(|t| t.indexes.len())
                        .sum::<usize>();
                // indexed-guid: its extra index; hidden-guid: Attach's primary index.
                assert_eq!(
                    extra,
                    usize::from(
                        (scenario == Scenario::IndexedGuid || scenario == Scenario::HiddenGuid)
                            && kind == StoreKind::Priv
                    )
                );
            }

            // Key trees.
            let t = trees(&spec);
            let diffs = trees_diff(&base_trees, &t);
            match scenario {
                Scenario::RestoreInProgress => {
                    let rip = TreeDiff::KeyAdded(
                        r"ControlSet001\Services\MSExchangeIS\Restore in Progress".into(),
                    );
                    let mut want = BTreeMap::new();
                    want.insert("SYSTEM", vec![rip.clone()]);
                    want.insert("SYSTEM.ALT", vec![rip]);
                    assert_eq!(diffs, want, "restore-in-progress adds exactly one key");
                }
                Scenario::StaleAlt => {
                    assert_eq!(diffs.keys().copied().collect::<Vec<_>>(), ["SYSTEM.ALT"]);
                    let names: BTreeSet<String> = diffs["SYSTEM.ALT"]
                        .iter()
                        .map(|d| match d {
                            TreeDiff::ValueChanged(p) => p.rsplit(':').next().unwrap().to_string(),
                            other => panic!("stale-alt: {other:?}"),
                        })
                        .collect();
                    assert_eq!(
                        names,
                        set(&[
                            "Base GUID",
                            "DSA Computer",
                            "MTA Computer",
                            "This Server",
                            "ShutdownTime"
                        ])
                    );
                }
                Scenario::Patched => {
                    for (hive, ds) in &diffs {
                        assert!(matches!(*hive, "SYSTEM" | "SYSTEM.ALT" | "CPT"), "{hive}");
                        for d in ds {
                            let TreeDiff::ValueChanged(p) = d else {
                                panic!("{d:?}")
                            };
                            let v = p.rsplit(':').next().unwrap();
                            assert!(
                                ["Base GUID", "DSA Computer", "MTA Computer", "This Server"]
                                    .contains(&v),
                                "{hive} {p}"
                            );
                        }
                    }
                    assert!(diffs.contains_key("SYSTEM"));
                }
                _ => assert!(diffs.is_empty(), "{scenario:?}: {diffs:?}"),
            }
        }
    }
}

#[test]
fn dirty_hive_log_replays_to_the_logical_system_hive() {
    let spec = ImageSpec::new(&params(Layout::Cluster, Scenario::DirtyHive));
    let (base, edits) = dirty_system(&spec);
    let logical = trees(&spec).system;
    assert_eq!(edits.len(), 1);
    assert_eq!(
        tree_diff(&base, &logical).len(),
        1,
        "the primary file lacks exactly the edit"
    );
    assert_eq!(apply_edits(&base, &edits), logical);
}

#[test]
fn restored_registry_disagrees_with_the_databases_and_patched_agrees() {
    for layout in [Layout::Cluster, Layout::Standalone] {
        let r = ImageSpec::new(&params(layout, Scenario::Restored));
        let p = ImageSpec::new(&params(layout, Scenario::Patched));
        for kind in StoreKind::ALL {
            assert_ne!(r.store(kind).base_guid, r.system.base_guid(kind));
            assert_eq!(r.store(kind).patch_state, 1);
            assert_eq!(r.store(kind).server_name, "EXPROD1");
            assert_eq!(p.store(kind).base_guid, p.system.base_guid(kind));
            assert_eq!(p.store(kind).patch_state, 0);
            assert_eq!(p.store(kind).server_name, p.target_server_name);
            if let Some(c) = &r.checkpoint {
                assert_ne!(c.base_guid(kind), r.store(kind).base_guid);
            }
            for g in &r.store(kind).foreign_guids {
                assert_ne!(*g, r.store(kind).base_guid);
            }
        }
        assert_eq!(r.system.server_name, "EXPROD1");
        assert_eq!(
            p.target_server_name,
            if layout == Layout::Cluster {
                "EXVS1"
            } else {
                "EXLAB1"
            }
        );
    }
}

#[test]
fn every_name_is_a_valid_netbios_name() {
    for layout in [Layout::Cluster, Layout::Standalone] {
        for scenario in Scenario::ALL {
            let spec = ImageSpec::new(&params(layout, scenario));
            for n in spec.netbios_names() {
                assert_eq!(validate_server_name(n), Ok(()), "{n}");
            }
        }
    }
}
