//! `report.json` of an `apply` (product.md, "JSON"): the fields scripts may rely on.

use crate::manifest::sums::FileDigest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One store's patch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreReport {
    /// `priv` / `pub`.
    pub name: String,
    /// The database's path relative to the image.
    pub path: String,
    pub windows_path: String,
    pub old_base_guid: String,
    pub new_base_guid: String,
    pub old_server_name: Option<String>,
    pub new_server_name: String,
    /// Table → rows rewritten.
    pub rows_rewritten: BTreeMap<String, u64>,
    /// Table → rows left alone (other servers' objects and replication state).
    pub rows_foreign: BTreeMap<String, u64>,
    /// Pages whose bytes changed, and the database time they were given.
    pub pages_changed: u64,
    pub new_dbtime: u64,
    /// Columns outside the store model holding the old base GUID that `--allow-uncovered`
    /// let the patch leave as they are.
    #[serde(default)]
    pub uncovered_allowed: Vec<crate::patch::census::Uncovered>,
    /// Where the old and the new base GUID live, in the pages read and in the pages written.
    #[serde(default)]
    pub census: Option<crate::patch::census::CensusPair>,
    /// What happened to every page, in bins (the case file draws it).
    #[serde(default)]
    pub page_map: Option<crate::manifest::pagemap::PageMap>,
}

/// One registry value changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEditReport {
    /// The hive, relative to the image.
    pub file: String,
    pub key: String,
    pub value: String,
    /// `REG_SZ`, `REG_BINARY`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The value as text (a GUID in braces for a base GUID); `null` when it was absent.
    pub old: Option<String>,
    pub new: String,
}

/// A volume of the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReport {
    pub letter: String,
    pub path: String,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool_version: String,
    /// RFC 3339, UTC.
    pub patch_time: String,
    /// `out` or `in-place`.
    pub mode: String,
    pub volumes: Vec<VolumeReport>,
    pub target_server_name: String,
    /// Where the name came from: `--server-name`, `cluster virtual server`, `computer name`.
    pub target_server_name_source: String,
    pub stores: Vec<StoreReport>,
    pub registry_edits: Vec<RegistryEditReport>,
    pub inputs: Vec<FileDigest>,
    pub outputs: Vec<FileDigest>,
    pub warnings: Vec<String>,
    /// Entries and changed bytes in the audit log (`audit.jsonl.zst`).
    pub audit_entries: u64,
    pub audit_bytes: u64,
}
