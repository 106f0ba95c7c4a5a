//! The registry edits (registry-model.md, "The edits"): in every store service key of a hive
//! (each control set's `Services\MSExchangeIS` in `SYSTEM` / `SYSTEM.ALT`, the root of a
//! checkpoint), `Base GUID` := the store's new base GUID and the server-name values := the
//! target name where they differ. The hive is edited in memory with [`Editor`] and finished as
//! Windows finishes a write (sequence numbers + 1, timestamps, checksum).

use crate::exchange::profile::SystemModel;
use crate::exchange::registry::{join, sz_text, HiveView, RegistryError};
use crate::exchange::{Guid, StoreKind};
use crate::regf::write::{utf16z, REG_BINARY, REG_EXPAND_SZ, REG_SZ};
use crate::regf::{Editor, RegfError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One value to set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueEdit {
    /// The hive, relative to the image.
    pub file: String,
    /// The key's path inside the hive.
    pub key: String,
    pub value: String,
    /// The registry type number (REG_SZ = 1, REG_BINARY = 3, ...).
    pub kind: u32,
    /// Readable old value (`None`: absent).
    pub old: Option<String>,
    /// Readable new value.
    pub new: String,
}

impl ValueEdit {
    /// The data the edit writes.
    pub fn data(&self) -> Vec<u8> {
        match self.kind {
            REG_BINARY => self
                .new
                .parse::<Guid>()
                .map(|g| g.to_windows_bytes().to_vec())
                .unwrap_or_default(),
            _ => utf16z(&self.new),
        }
    }
}

/// `REG_SZ` etc. by number, as the report shows it.
pub fn type_name(kind: u32) -> String {
    match kind {
        REG_SZ => "REG_SZ".into(),
        REG_EXPAND_SZ => "REG_EXPAND_SZ".into(),
        REG_BINARY => "REG_BINARY".into(),
        other => format!("type {other}"),
    }
}

/// The edits one store service key needs.
pub fn plan_key_edits(
    hive: &HiveView,
    file: &str,
    key: &str,
    new_guids: &BTreeMap<StoreKind, Guid>,
    target: &str,
    model: &SystemModel,
) -> Result<Vec<ValueEdit>, RegistryError> {
    let mut edits = Vec::new();
    for (store, guid) in new_guids {
        let params = join(&[key, model.store_params(*store)]);
        if hive.key(&params)?.is_none() {
            continue;
        }
        let old = hive.guid(&params, &model.base_guid)?;
        if old != Some(*guid) {
            edits.push(ValueEdit {
                file: file.to_string(),
                key: params,
                value: model.base_guid.clone(),
                kind: REG_BINARY,
                old: old.map(|g| g.to_string()),
                new: guid.to_string(),
            });
        }
    }
    let system = join(&[key, &model.params_system]);
    for v in &model.server_name_values {
        let Some(raw) = hive.value(&system, v)? else {
            continue;
        };
        let old = sz_text(&raw.data);
        if old.as_deref() == Some(target) && raw.data == utf16z(target) {
            continue;
        }
        let kind = if raw.kind == REG_EXPAND_SZ {
            REG_EXPAND_SZ
        } else {
            REG_SZ
        };
        edits.push(ValueEdit {
            file: file.to_string(),
            key: system.clone(),
            value: v.clone(),
            kind,
            old,
            new: target.to_string(),
        });
    }
    Ok(edits)
}

/// Applies `edits` to a hive's bytes and finishes the write at `filetime`.
pub fn apply_edits(
    data: Vec<u8>,
    edits: &[ValueEdit],
    filetime: u64,
) -> Result<Vec<u8>, RegfError> {
    let mut ed = Editor::open(data, filetime)?;
    for e in edits {
        ed.set_value(&e.key, &e.value, e.kind, &e.data())?;
    }
    Ok(ed.finish())
}

/// Why a changed range of a hive changed, from where it lies.
pub fn range_reason(offset: u64, edits: &[ValueEdit]) -> String {
    const BASE_BLOCK: u64 = 4096;
    const FIRST_BIN_TIMESTAMP: u64 = 4096 + 20;
    if offset < BASE_BLOCK {
        "hive base block (sequence numbers, timestamp, checksum)".into()
    } else if (FIRST_BIN_TIMESTAMP..FIRST_BIN_TIMESTAMP + 8).contains(&offset) {
        "first bin timestamp".into()
    } else {
        let names: Vec<String> = edits
            .iter()
            .map(|e| format!("{}\\{}", e.key, e.value))
            .collect();
        format!("hive cells of {}", names.join(", "))
    }
}
