//! The registry model read from hives: control sets, the computer name, the store service key
//! (`MSExchangeIS`) with its database paths, base GUIDs and server names, and `SOFTWARE`'s
//! OS and Exchange versions (registry-model.md). Read only; the edits are planned in
//! [`crate::patch`].
//!
//! Every key and value name comes from the profile ([`SystemModel`], [`SoftwareModel`]).

use crate::exchange::profile::{SoftwareModel, SystemModel};
use crate::exchange::{Guid, StoreKind};
use crate::regf::hive::{HiveRef, KeyNode};
use crate::regf::write::{REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_SZ};
use crate::regf::{name, RegfError};
use serde::Serialize;
use std::collections::BTreeMap;

/// A hive value that is not what the model says it is, or a hive that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{hive}: {source}")]
    Hive {
        hive: String,
        #[source]
        source: RegfError,
    },
    #[error("{hive}: {key}\\{value}: {what}")]
    Value {
        hive: String,
        key: String,
        value: String,
        what: String,
    },
}

/// Read access to one hive by key path and value name, with errors that name the hive.
pub struct HiveView<'a> {
    pub label: String,
    hive: HiveRef<'a>,
}

/// One value as stored: its type and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawValue {
    pub kind: u32,
    pub data: Vec<u8>,
}

impl<'a> HiveView<'a> {
    pub fn new(label: impl Into<String>, data: &'a [u8]) -> Result<HiveView<'a>, RegistryError> {
        let label = label.into();
        let hive = HiveRef::new(data).map_err(|source| RegistryError::Hive {
            hive: label.clone(),
            source,
        })?;
        Ok(HiveView { label, hive })
    }

    fn err(&self, source: RegfError) -> RegistryError {
        RegistryError::Hive {
            hive: self.label.clone(),
            source,
        }
    }

    pub fn key(&self, path: &str) -> Result<Option<KeyNode>, RegistryError> {
        self.hive.key_by_path(path).map_err(|e| self.err(e))
    }

    /// The names of the subkeys of the key at `path` (none when the key is absent).
    pub fn subkey_names(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        let Some(key) = self.key(path)? else {
            return Ok(Vec::new());
        };
        if key.subkey_count == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for off in self
            .hive
            .subkeys(key.subkey_list)
            .map_err(|e| self.err(e))?
        {
            let k = self.hive.key(off).map_err(|e| self.err(e))?;
            out.push(name::to_string(&k.name));
        }
        Ok(out)
    }

    /// The names of the values of the key at `path` (none when the key is absent).
    pub fn value_names(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        let Some(key) = self.key(path)? else {
            return Ok(Vec::new());
        };
        let values = self.hive.values(&key).map_err(|e| self.err(e))?;
        Ok(values.iter().map(|v| name::to_string(&v.name)).collect())
    }

    /// The value `value` of the key at `path`; `None` when the key or the value is absent.
    pub fn value(&self, path: &str, value: &str) -> Result<Option<RawValue>, RegistryError> {
        let Some(key) = self.key(path)? else {
            return Ok(None);
        };
        let Some(v) = self
            .hive
            .find_value(&key, &name::from_str(value))
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let data = self.hive.value_data(&v).map_err(|e| self.err(e))?;
        Ok(Some(RawValue { kind: v.kind, data }))
    }

    fn value_error(&self, key: &str, value: &str, what: String) -> RegistryError {
        RegistryError::Value {
            hive: self.label.clone(),
            key: key.to_string(),
            value: value.to_string(),
            what,
        }
    }

    /// A REG_SZ / REG_EXPAND_SZ value as text (a missing terminating NUL is tolerated).
    pub fn string(&self, path: &str, value: &str) -> Result<Option<String>, RegistryError> {
        let Some(raw) = self.value(path, value)? else {
            return Ok(None);
        };
        if raw.kind != REG_SZ && raw.kind != REG_EXPAND_SZ {
            return Err(self.value_error(
                path,
                value,
                format!("expected REG_SZ, found type {}", raw.kind),
            ));
        }
        sz_text(&raw.data)
            .map(Some)
            .ok_or_else(|| self.value_error(path, value, "not UTF-16LE text".into()))
    }

    /// A REG_DWORD value.
    pub fn dword(&self, path: &str, value: &str) -> Result<Option<u32>, RegistryError> {
        let Some(raw) = self.value(path, value)? else {
            return Ok(None);
        };
        match (raw.kind, <[u8; 4]>::try_from(raw.data.as_slice())) {
            (REG_DWORD, Ok(b)) => Ok(Some(u32::from_le_bytes(b))),
            _ => Err(self.value_error(
                path,
                value,
                format!(
                    "expected REG_DWORD of 4 bytes, found type {} of {} bytes",
                    raw.kind,
                    raw.data.len()
                ),
            )),
        }
    }

    /// A REG_BINARY GUID of 16 bytes (Windows memory layout).
    pub fn guid(&self, path: &str, value: &str) -> Result<Option<Guid>, RegistryError> {
        let Some(raw) = self.value(path, value)? else {
            return Ok(None);
        };
        match (raw.kind, <[u8; 16]>::try_from(raw.data.as_slice())) {
            (REG_BINARY, Ok(b)) => Ok(Some(Guid::from_windows_bytes(b))),
            _ => Err(self.value_error(
                path,
                value,
                format!(
                    "expected REG_BINARY of 16 bytes, found type {} of {} bytes",
                    raw.kind,
                    raw.data.len()
                ),
            )),
        }
    }
}

/// REG_SZ data as text: UTF-16LE, up to the first NUL (Windows' readers stop there too).
pub fn sz_text(data: &[u8]) -> Option<String> {
    if data.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).ok()
}

/// Joins key path parts with backslashes.
pub fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\\")
}

/// What the store service key (`...\Services\MSExchangeIS`, or a checkpoint's root) holds.
#[derive(Clone, Debug, Serialize)]
pub struct StoreService {
    /// The key's path inside its hive ("" for a checkpoint, whose root is the key).
    pub key: String,
    /// `DB Path` per store.
    pub db_paths: BTreeMap<StoreKind, String>,
    /// `Base GUID` per store (absent values are left out).
    pub base_guids: BTreeMap<StoreKind, Guid>,
    /// `DSA Computer`, `MTA Computer`, `This Server`: value name → text (absent ones left out).
    pub server_names: BTreeMap<String, String>,
    /// The `Restore in Progress` subkey is present (an online restore did not finish).
    pub restore_in_progress: bool,
}

impl StoreService {
    /// Reads the store service key at `key` in `hive`; `None` when the key is absent.
    pub fn read(
        hive: &HiveView,
        key: &str,
        model: &SystemModel,
    ) -> Result<Option<StoreService>, RegistryError> {
        if hive.key(key)?.is_none() {
            return Ok(None);
        }
        let mut db_paths = BTreeMap::new();
        let mut base_guids = BTreeMap::new();
        for store in StoreKind::ALL {
            let params = join(&[key, model.store_params(store)]);
            if let Some(p) = hive.string(&params, &model.db_path)? {
                db_paths.insert(store, p);
            }
            if let Some(g) = hive.guid(&params, &model.base_guid)? {
                base_guids.insert(store, g);
            }
        }
        let system = join(&[key, &model.params_system]);
        let mut server_names = BTreeMap::new();
        for v in &model.server_name_values {
            if let Some(s) = hive.string(&system, v)? {
                server_names.insert(v.clone(), s);
            }
        }
        let restore_in_progress = hive
            .key(&join(&[key, &model.restore_in_progress]))?
            .is_some();
        Ok(Some(StoreService {
            key: key.to_string(),
            db_paths,
            base_guids,
            server_names,
            restore_in_progress,
        }))
    }
}

/// One control set of `SYSTEM`.
#[derive(Clone, Debug, Serialize)]
pub struct ControlSet {
    /// `ControlSet00n`.
    pub name: String,
    /// The `Select` values that name it (`Current`, `Default`, `LastKnownGood`).
    pub selected_as: Vec<String>,
    pub computer_name: Option<String>,
    pub store_service: Option<StoreService>,
}

/// What `SYSTEM` (or its mirror `SYSTEM.ALT`) says.
#[derive(Clone, Debug, Serialize)]
pub struct SystemInfo {
    pub control_sets: Vec<ControlSet>,
}

impl SystemInfo {
    /// Reads every control set named by `Select`.
    pub fn read(hive: &HiveView, model: &SystemModel) -> Result<SystemInfo, RegistryError> {
        let mut sets: Vec<ControlSet> = Vec::new();
        for which in [
            &model.select_current,
            &model.select_default,
            &model.select_last_known_good,
        ] {
            let Some(n) = hive.dword(&model.select, which)? else {
                continue;
            };
            let name = model.control_set_name(n);
            if let Some(set) = sets.iter_mut().find(|s| s.name == name) {
                set.selected_as.push(which.clone());
                continue;
            }
            if hive.key(&name)?.is_none() {
                continue;
            }
            let cn_key = {
                let mut parts = vec![name.as_str()];
                parts.extend(model.computer_name_key.iter().map(String::as_str));
                join(&parts)
            };
            let computer_name = hive.string(&cn_key, &model.computer_name_value)?;
            let service_key = {
                let mut parts = vec![name.as_str()];
                parts.extend(model.store_service_key.iter().map(String::as_str));
                join(&parts)
            };
            let store_service = StoreService::read(hive, &service_key, model)?;
            sets.push(ControlSet {
                name,
                selected_as: vec![which.clone()],
                computer_name,
                store_service,
            });
        }
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(SystemInfo { control_sets: sets })
    }

    /// The control set `Select\Current` names, else the first one.
    pub fn current(&self, model: &SystemModel) -> Option<&ControlSet> {
        self.control_sets
            .iter()
            .find(|c| c.selected_as.contains(&model.select_current))
            .or(self.control_sets.first())
    }
}

/// What `SOFTWARE` says of the OS and Exchange.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SoftwareInfo {
    pub current_version: Option<String>,
    pub current_build_number: Option<String>,
    pub csd_version: Option<String>,
    pub exchange_services: Option<String>,
    pub exchange_newest_build: Option<u32>,
}

impl SoftwareInfo {
    pub fn read(hive: &HiveView, model: &SoftwareModel) -> Result<SoftwareInfo, RegistryError> {
        let cv = model.current_version_key.join("\\");
        let ex = model.exchange_setup_key.join("\\");
        Ok(SoftwareInfo {
            current_version: hive.string(&cv, &model.current_version)?,
            current_build_number: hive.string(&cv, &model.current_build_number)?,
            csd_version: hive.string(&cv, &model.csd_version)?,
            exchange_services: hive.string(&ex, &model.exchange_services)?,
            exchange_newest_build: hive.dword(&ex, &model.newest_build)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sz_text_stops_at_the_first_nul_and_refuses_odd_lengths() {
        assert_eq!(sz_text(b"E\0X\0\0\0").as_deref(), Some("EX"));
        assert_eq!(sz_text(b"E\0X\0").as_deref(), Some("EX"));
        assert_eq!(sz_text(b"E\0X"), None);
    }

    #[test]
    fn join_skips_empty_parts() {
        assert_eq!(join(&["", "ParametersPrivate"]), "ParametersPrivate");
        assert_eq!(join(&["A", "B"]), "A\\B");
    }
}
