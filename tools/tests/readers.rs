//! Independent readers agree with image.json: dissect.esedb counts the rows per table and per
//! GUID of an ESE98 image; hivexregedit and hivexget read the base GUIDs, server names and the
//! virtual server name from the hives.
//! A dirty `SYSTEM` replays (its `.LOG`) to what `SYSTEM.ALT` holds.

use coldpatch::exchange::Guid;
use coldpatch::regf::log::replay_files;
use coldpatch::regf::verify;
use coldpatch_tools::mkimage::params::{FormatArg, ImageParams, Layout, Scenario};
use coldpatch_tools::mkimage::run::{generate, IMAGE_JSON};
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::process::Command;

const DISSECT_COUNTS: &str = r#"
import json, sys
from dissect.esedb import EseDB
GUID_COLUMNS = {"Folders": "SourceGuid", "Msg": "SourceGuid", "ReplState": "ServerGuid"}
db = EseDB(open(sys.argv[1], "rb"))
out = {"rows": {}, "by_guid": {}, "globals": {}}
for t in db.tables():
    if t.name.startswith("MSys"):
        continue
    n = 0
    per = {}
    for r in t.records():
        n += 1
        col = GUID_COLUMNS.get(t.name)
        if col:
            g = r.get(col).hex()
            per[g] = per.get(g, 0) + 1
        if t.name == "Globals":
            out["globals"] = {"BaseGuid": r.get("BaseGuid").hex(), "ServerName": r.get("ServerName"),
                              "PatchState": r.get("PatchState")}
    out["rows"][t.name] = n
    if t.name in GUID_COLUMNS:
        out["by_guid"][t.name] = per
print(json.dumps(out))
"#;

fn guid_of_hex(hex: &str) -> Guid {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Guid::from_windows_bytes(bytes.try_into().unwrap())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the reader runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `"Name"=hex(3):aa,bb,...` lines of a hivexregedit export, per key.
fn exported_binary(export: &str) -> BTreeMap<(String, String), Vec<u8>> {
    let mut key = String::new();
    let mut out = BTreeMap::new();
    for line in export.lines() {
        if let Some(k) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            key = k.to_string();
        } else if let Some((name, data)) = line.split_once("=hex(3):") {
            let bytes = data
                .split(',')
                .map(|b| u8::from_str_radix(b.trim(), 16).unwrap())
                .collect();
            out.insert((key.clone(), name.trim_matches('"').to_string()), bytes);
        }
    }
    out
}

#[test]
fn independent_readers_agree_with_image_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img");
    let p = ImageParams {
        layout: Layout::Cluster,
        scenario: Scenario::Restored,
        folders: 12,
        messages: 90,
        body_bytes: 200,
        foreign: 30,
        format: FormatArg::Ese98,
        seed: "readers".into(),
    };
    generate(&out, &p, false).unwrap();
    let truth: J = serde_json::from_slice(&std::fs::read(out.join(IMAGE_JSON)).unwrap()).unwrap();

    // Databases, read by dissect.esedb.
    for db in truth["databases"].as_array().unwrap() {
        let path = out.join(db["path"].as_str().unwrap());
        let got: J = serde_json::from_str(&run(Command::new("python3")
            .arg("-c")
            .arg(DISSECT_COUNTS)
            .arg(&path)))
        .unwrap();
        assert_eq!(got["rows"], db["rows"], "{}", path.display());
        for (table, per) in got["by_guid"].as_object().unwrap() {
            let per: BTreeMap<String, u64> = per
                .as_object()
                .unwrap()
                .iter()
                .map(|(h, n)| (guid_of_hex(h).to_string(), n.as_u64().unwrap()))
                .collect();
            assert_eq!(
                serde_json::to_value(per).unwrap(),
                db["rows_by_guid"][table]
            );
        }
        let g = &got["globals"];
        assert_eq!(
            guid_of_hex(g["BaseGuid"].as_str().unwrap()).to_string(),
            db["base_guid"]
        );
        assert_eq!(g["ServerName"], db["server_name"]);
        assert_eq!(g["PatchState"], db["patch_state"]);
    }

    // Registry places, read by hivexregedit.
    for place in truth["registry"].as_array().unwrap() {
        let hive = out.join(place["file"].as_str().unwrap());
        let key = format!("\\{}", place["key"].as_str().unwrap());
        let export = run(Command::new("hivexregedit")
            .arg("--export")
            .arg(&hive)
            .arg(&key));
        let bins = exported_binary(&export);
        for (params, store) in [("ParametersPrivate", "priv"), ("ParametersPublic", "pub")] {
            let k = format!("{}\\{params}", key.trim_end_matches('\\'));
            let data = &bins[&(k, "Base GUID".to_string())];
            let g = Guid::from_windows_bytes(data.as_slice().try_into().unwrap());
            assert_eq!(
                g.to_string(),
                place["base_guids"][store],
                "{}",
                hive.display()
            );
        }
        let sys = format!("{}\\ParametersSystem", key.trim_end_matches('\\'));
        for v in ["DSA Computer", "MTA Computer", "This Server"] {
            let got = run(Command::new("hivexget").arg(&hive).arg(&sys).arg(v));
            assert_eq!(
                got.trim_end(),
                place["server_names"][v],
                "{} {v}",
                hive.display()
            );
        }
    }

    // The virtual server name, from the cluster hive.
    let clusdb = out.join("C/WINNT/Cluster/CLUSDB");
    let c = &truth["cluster"];
    assert_eq!(
        run(Command::new("hivexget")
            .arg(&clusdb)
            .arg("\\")
            .arg("ClusterName"))
        .trim_end(),
        c["name"]
    );
    let nn = c["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Network Name" && r["group"] == c["exchange_group"]["name"])
        .unwrap();
    let key = format!("\\Resources\\{}\\Parameters", nn["id"].as_str().unwrap());
    assert_eq!(
        run(Command::new("hivexget").arg(&clusdb).arg(&key).arg("Name")).trim_end(),
        c["virtual_server"]
    );
}

#[test]
fn dirty_system_replays_to_its_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img");
    let p = ImageParams {
        layout: Layout::Standalone,
        scenario: Scenario::DirtyHive,
        folders: 3,
        messages: 5,
        body_bytes: 16,
        seed: "dirty".into(),
        ..ImageParams::default()
    };
    generate(&out, &p, false).unwrap();
    let truth: J = serde_json::from_slice(&std::fs::read(out.join(IMAGE_JSON)).unwrap()).unwrap();
    let d = &truth["defects"]["dirty_hive"];
    let system = out.join(d["file"].as_str().unwrap());
    let primary = std::fs::read(&system).unwrap();
    let r = verify(&primary);
    assert!(r.dirty);
    assert_eq!(u64::from(r.sequence1), d["sequence1"].as_u64().unwrap());
    assert_eq!(u64::from(r.sequence2), d["sequence2"].as_u64().unwrap());
    assert_ne!(r.sequence1, r.sequence2);

    let replayed = replay_files(&system).unwrap();
    let after = verify(&replayed.data);
    assert!(
        !after.dirty && after.errors.is_empty(),
        "{:?}",
        after.errors
    );
    let replayed_path = dir.path().join("SYSTEM.replayed");
    std::fs::write(&replayed_path, &replayed.data).unwrap();
    let alt = out.join("C/WINNT/system32/config/SYSTEM.ALT");
    let export = |h: &std::path::Path| {
        run(Command::new("hivexregedit")
            .arg("--export")
            .arg(h)
            .arg("\\"))
    };
    let before = run(Command::new("hivexregedit")
        .arg("--export")
        .arg(&system)
        .arg("\\"));
    assert_eq!(
        export(&replayed_path),
        export(&alt),
        "replayed SYSTEM = its mirror"
    );
    assert_ne!(
        before,
        export(&alt),
        "the primary file lacks the logged write"
    );
}
