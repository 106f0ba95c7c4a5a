//! `OUT_DIR/image.json`: the ground truth of an image (product.md, "Lab images").

use super::corrupt::BadPage;
use super::hives::{find, value};
use super::params::{FormatArg, Layout, Scenario};
use super::rows::StoreCounts;
use crate::writers::HiveEdit;
use coldpatch::exchange::guid::GUID_LEN;
use coldpatch::exchange::{Guid, StoreKind};
use coldpatch::regf::write::{KeySpec, REG_BINARY, REG_SZ};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageTruth {
    pub generator: String,
    pub generator_version: String,
    pub layout: Layout,
    pub scenario: Scenario,
    pub seed: String,
    pub format: FormatArg,
    pub folders: u64,
    /// Messages of `PRIV.EDB` (`--messages`) and of `PUB.EDB` (`--pub-messages`, else the same).
    pub messages: u64,
    pub pub_messages: u64,
    pub body_bytes: u32,
    pub foreign_percent: u8,
    pub computer_name: String,
    pub target_server_name: String,
    pub production_server_name: String,
    pub volumes: Vec<VolumeTruth>,
    pub files: Vec<FileTruth>,
    pub databases: Vec<DatabaseTruth>,
    pub registry: Vec<RegistryPlace>,
    pub cluster: Option<ClusterTruth>,
    pub defects: Defects,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeTruth {
    pub letter: char,
    /// Directory relative to `OUT_DIR`.
    pub dir: String,
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileTruth {
    /// Relative to `OUT_DIR`, `/`-separated.
    pub path: String,
    pub windows_path: String,
    /// `ese`, `regf`, `regf-log`, `quorum-log`.
    pub kind: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForeignGuid {
    pub server: String,
    pub guid: Guid,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatabaseTruth {
    pub store: StoreKind,
    pub path: String,
    pub windows_path: String,
    pub base_guid: Guid,
    pub server_name: String,
    pub patch_state: i32,
    pub patch_count: i32,
    pub patch_time: f64,
    pub clean_shutdown: bool,
    /// Secondary indexes beyond the store model's, as `Table.Index(Column, ...)`.
    pub extra_indexes: Vec<String>,
    /// `hidden-guid`: every place outside the store model's columns holding the base GUID.
    pub hidden_guid: Vec<super::hidden::HiddenPlace>,
    pub foreign_guids: Vec<ForeignGuid>,
    pub rows: BTreeMap<String, u64>,
    pub rows_by_guid: BTreeMap<String, BTreeMap<String, u64>>,
}

impl DatabaseTruth {
    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            rows: self.rows.clone(),
            by_guid: self.rows_by_guid.clone(),
        }
    }
}

/// One place the registry names the stores' base GUIDs and the server name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryPlace {
    /// The hive file, relative to `OUT_DIR`.
    pub file: String,
    /// The `MSExchangeIS` key, relative to the hive root (empty: the root itself).
    pub key: String,
    /// `priv`/`pub` → the `Base GUID` value.
    pub base_guids: BTreeMap<StoreKind, Guid>,
    /// `DSA Computer`, `MTA Computer`, `This Server` → value.
    pub server_names: BTreeMap<String, String>,
    /// `Control\ComputerName\ComputerName` of the same control set, if this is one.
    pub computer_name: Option<String>,
    pub restore_in_progress: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedId {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceTruth {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub group: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointTruth {
    /// The checkpointed key (`RegSync` value data).
    pub key: String,
    pub windows_path: String,
    pub file: String,
    pub present: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterTruth {
    pub name: String,
    pub nodes: Vec<String>,
    pub virtual_server: String,
    pub exchange_group: NamedId,
    pub store_resource: NamedId,
    pub quorum_path: String,
    pub resources: Vec<ResourceTruth>,
    pub checkpoints: Vec<CheckpointTruth>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirtyHiveTruth {
    pub file: String,
    pub log: String,
    /// The primary file's base-block sequence numbers (they differ: the hive is dirty).
    pub sequence1: u32,
    pub sequence2: u32,
    /// What replaying the log applies (the hive file holds the state before).
    pub pending_edits: Vec<HiveEdit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadPageTruth {
    pub file: String,
    #[serde(flatten)]
    pub page: BadPage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaleAltTruth {
    pub file: String,
    pub sequence: u32,
    pub timestamp: u64,
    pub system_sequence: u32,
    pub system_timestamp: u64,
}

/// The scenario's defect, where it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Defects {
    pub dirty_db: Option<String>,
    pub bad_page: Option<BadPageTruth>,
    pub dirty_hive: Option<DirtyHiveTruth>,
    /// `file:key` of every `Restore in Progress` key.
    pub restore_in_progress: Vec<String>,
    /// The checkpoint file the cluster names but the image lacks.
    pub missing_checkpoint: Option<String>,
    pub stale_alt: Option<StaleAltTruth>,
    /// `file:Table.Index(Column)`.
    pub indexed_guid: Option<String>,
    /// `file:Table.Column` of every place of `hidden-guid`.
    pub hidden_guid: Vec<String>,
}

/// UTF-16LE text without its terminating NUL(s).
fn reg_sz(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}

/// Reads the `MSExchangeIS` state at `key_path` of a generated tree (so that the truth says
/// what the tree holds, not what was meant). `None` when the key is absent.
pub fn registry_place(
    profile: &coldpatch::exchange::Profile,
    file: &str,
    root: &KeySpec,
    key_path: &[String],
    computer_name_path: Option<&[String]>,
) -> Option<RegistryPlace> {
    let m = &profile.system;
    let refs: Vec<&str> = key_path.iter().map(String::as_str).collect();
    let is = find(root, &refs)?;
    let mut base_guids = BTreeMap::new();
    for kind in StoreKind::ALL {
        let g = find(is, &[m.store_params(kind)])
            .and_then(|k| value(k, &m.base_guid))
            .filter(|v| v.kind == REG_BINARY && v.data.len() == GUID_LEN)
            .and_then(|v| <[u8; GUID_LEN]>::try_from(v.data.as_slice()).ok())
            .map(Guid::from_windows_bytes);
        if let Some(g) = g {
            base_guids.insert(kind, g);
        }
    }
    let mut server_names = BTreeMap::new();
    if let Some(sys) = find(is, &[m.params_system.as_str()]) {
        for name in &m.server_name_values {
            if let Some(v) = value(sys, name).filter(|v| v.kind == REG_SZ) {
                server_names.insert(name.clone(), reg_sz(&v.data));
            }
        }
    }
    let computer_name = computer_name_path.and_then(|p| {
        let refs: Vec<&str> = p.iter().map(String::as_str).collect();
        find(root, &refs)
            .and_then(|k| value(k, &m.computer_name_value))
            .map(|v| reg_sz(&v.data))
    });
    Some(RegistryPlace {
        file: file.to_string(),
        key: key_path.join("\\"),
        base_guids,
        server_names,
        computer_name,
        restore_in_progress: find(is, &[m.restore_in_progress.as_str()]).is_some(),
    })
}
