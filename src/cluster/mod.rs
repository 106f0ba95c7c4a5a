//! The cluster hive (`CLUSDB`, root = `HKLM\Cluster`), read only: groups, resources, the
//! Exchange group with its virtual server name and store resource, the store resource's
//! `RegSync` checkpoints and where their files are (registry-model.md, "The cluster hive").
//!
//! Every key, value and resource-type name comes from the profile's [`ClusterModel`].

use crate::exchange::profile::{ClusterModel, SystemModel};
use crate::exchange::registry::{join, HiveView, RegistryError};
use crate::regf::write::REG_MULTI_SZ;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{key}: {what}")]
    Model { key: String, what: String },
}

/// A cluster group.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    /// Resource ids (`Contains`).
    pub contains: Vec<String>,
}

/// A cluster resource.
#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub type_: String,
    pub depends_on: Vec<String>,
    /// `Parameters\Name` of a `Network Name` resource.
    pub network_name: Option<String>,
    /// `RegSync` values: (value name, key path relative to `HKLM`).
    pub regsync: Vec<(String, String)>,
}

/// What the cluster hive holds.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterInfo {
    pub name: String,
    pub nodes: Vec<String>,
    pub groups: Vec<Group>,
    pub resources: Vec<Resource>,
    /// `Quorum\Path`, e.g. `Q:\MSCS\`.
    pub quorum_path: Option<String>,
}

/// One checkpoint of the store resource.
#[derive(Clone, Debug, Serialize)]
pub struct Checkpoint {
    /// The `RegSync` value name (`00000001`).
    pub regsync: String,
    /// The checkpointed key, relative to `HKLM`.
    pub key_path: String,
    /// `<Quorum Path>\<resource id>\<value>.CPT`.
    pub windows_path: String,
}

/// The Exchange group of the cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ExchangeCluster {
    pub group_id: String,
    pub group_name: String,
    pub virtual_server: String,
    pub store_resource_id: String,
    pub store_resource_name: String,
    pub checkpoints: Vec<Checkpoint>,
}

/// REG_MULTI_SZ data as strings (empty strings dropped).
fn multi_sz(data: &[u8]) -> Option<Vec<String>> {
    if data.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    units
        .split(|&u| u == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf16(s).ok())
        .collect()
}

/// Reads the cluster hive.
pub fn read_cluster(hive: &[u8], model: &ClusterModel) -> Result<ClusterInfo, ClusterError> {
    let h = HiveView::new("CLUSDB", hive)?;
    let multi = |key: &str, value: &str| -> Result<Vec<String>, ClusterError> {
        match h.value(key, value)? {
            None => Ok(Vec::new()),
            Some(raw) if raw.kind == REG_MULTI_SZ => {
                multi_sz(&raw.data).ok_or_else(|| ClusterError::Model {
                    key: key.to_string(),
                    what: format!("{value}: not UTF-16LE text"),
                })
            }
            Some(raw) => Err(ClusterError::Model {
                key: key.to_string(),
                what: format!("{value}: expected REG_MULTI_SZ, found type {}", raw.kind),
            }),
        }
    };
    let mut groups = Vec::new();
    for id in h.subkey_names(&model.groups)? {
        let key = join(&[&model.groups, &id]);
        groups.push(Group {
            name: h.string(&key, &model.name)?.unwrap_or_default(),
            contains: multi(&key, &model.contains)?,
            id,
        });
    }
    let mut resources = Vec::new();
    for id in h.subkey_names(&model.resources)? {
        let key = join(&[&model.resources, &id]);
        let type_ = h.string(&key, &model.type_)?.unwrap_or_default();
        let network_name = if type_.eq_ignore_ascii_case(&model.network_name_type) {
            h.string(&join(&[&key, &model.parameters]), &model.network_name_param)?
        } else {
            None
        };
        let regsync_key = join(&[&key, &model.regsync]);
        let mut regsync = Vec::new();
        if h.key(&regsync_key)?.is_some() {
            for name in value_names(&h, &regsync_key)? {
                if let Some(path) = h.string(&regsync_key, &name)? {
                    regsync.push((name, path));
                }
            }
            regsync.sort();
        }
        resources.push(Resource {
            name: h.string(&key, &model.name)?.unwrap_or_default(),
            depends_on: multi(&key, &model.depends_on)?,
            type_,
            network_name,
            regsync,
            id,
        });
    }
    let mut nodes = Vec::new();
    for n in h.subkey_names(&model.nodes)? {
        if let Some(name) = h.string(&join(&[&model.nodes, &n]), &model.node_name)? {
            nodes.push(name);
        }
    }
    Ok(ClusterInfo {
        name: h.string("", &model.cluster_name)?.unwrap_or_default(),
        nodes,
        groups,
        resources,
        quorum_path: h.string(&model.quorum, &model.quorum_path)?,
    })
}

fn value_names(h: &HiveView, key: &str) -> Result<Vec<String>, ClusterError> {
    Ok(h.value_names(key)?)
}

impl ClusterInfo {
    /// The Exchange group: the group holding the store resource, with the `Network Name`
    /// resource of the same group. `None` when the cluster has no store resource.
    pub fn exchange(&self, model: &ClusterModel) -> Result<Option<ExchangeCluster>, ClusterError> {
        let stores: Vec<&Resource> = self
            .resources
            .iter()
            .filter(|r| r.type_.eq_ignore_ascii_case(&model.store_resource_type))
            .collect();
        let store = match stores.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            more => {
                return Err(ClusterError::Model {
                    key: model.resources.clone(),
                    what: format!(
                        "{} resources of type {} ({}); expected one",
                        more.len(),
                        crate::text::quoted(&model.store_resource_type),
                        more.iter()
                            .map(|r| r.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
            }
        };
        let group = self
            .groups
            .iter()
            .find(|g| {
                g.contains
                    .iter()
                    .any(|id| id.eq_ignore_ascii_case(&store.id))
            })
            .ok_or_else(|| ClusterError::Model {
                key: join(&[&model.resources, &store.id]),
                what: format!(
                    "resource {} is in no group",
                    crate::text::quoted(&store.name)
                ),
            })?;
        let names: Vec<&str> = self
            .resources
            .iter()
            .filter(|r| {
                group
                    .contains
                    .iter()
                    .any(|id| id.eq_ignore_ascii_case(&r.id))
            })
            .filter_map(|r| r.network_name.as_deref())
            .collect();
        let virtual_server = match names.as_slice() {
            [one] => one.to_string(),
            [] => {
                return Err(ClusterError::Model {
                    key: join(&[&model.groups, &group.id]),
                    what: format!(
                        "group {} has no {} resource with {}\\{}: no virtual server name",
                        crate::text::quoted(&group.name),
                        crate::text::quoted(&model.network_name_type),
                        model.parameters,
                        model.network_name_param
                    ),
                })
            }
            more => {
                return Err(ClusterError::Model {
                    key: join(&[&model.groups, &group.id]),
                    what: format!(
                        "group {} has {} network names ({}); expected one",
                        crate::text::quoted(&group.name),
                        more.len(),
                        more.join(", ")
                    ),
                })
            }
        };
        let quorum = self.quorum_path.as_deref().unwrap_or("");
        let checkpoints = store
            .regsync
            .iter()
            .map(|(value, key_path)| Checkpoint {
                regsync: value.clone(),
                key_path: key_path.clone(),
                windows_path: format!(
                    "{}\\{}\\{}",
                    quorum.trim_end_matches('\\'),
                    store.id,
                    model.checkpoint_file_name(value)
                ),
            })
            .collect();
        Ok(Some(ExchangeCluster {
            group_id: group.id.clone(),
            group_name: group.name.clone(),
            virtual_server,
            store_resource_id: store.id.clone(),
            store_resource_name: store.name.clone(),
            checkpoints,
        }))
    }
}

/// Whether a `RegSync` key path (relative to `HKLM`) names the store service key:
/// `SYSTEM\<CurrentControlSet | ControlSet00n>\Services\MSExchangeIS`, any case.
pub fn names_store_key(key_path: &str, model: &SystemModel) -> bool {
    let parts: Vec<&str> = key_path.split('\\').filter(|p| !p.is_empty()).collect();
    let want = &model.store_service_key;
    if parts.len() != 2 + want.len() || !parts[0].eq_ignore_ascii_case("SYSTEM") {
        return false;
    }
    let set = parts[1];
    let set_ok = set.eq_ignore_ascii_case(&model.current_control_set)
        || set
            .get(..model.control_set_prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(&model.control_set_prefix))
            && set[model.control_set_prefix.len()..]
                .chars()
                .all(|c| c.is_ascii_digit());
    set_ok
        && parts[2..]
            .iter()
            .zip(want)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Profile;

    #[test]
    fn store_key_paths() {
        let m = Profile::exchange55().system;
        assert!(names_store_key(
            "SYSTEM\\CurrentControlSet\\Services\\MSExchangeIS",
            &m
        ));
        assert!(names_store_key(
            "system\\controlset002\\services\\msexchangeis",
            &m
        ));
        assert!(!names_store_key(
            "SYSTEM\\CurrentControlSet\\Services\\MSExchangeMTA",
            &m
        ));
        assert!(!names_store_key("SOFTWARE\\Microsoft\\Exchange", &m));
    }

    #[test]
    fn multi_sz_splits_on_nul() {
        let d: Vec<u8> = "a\0bc\0\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(multi_sz(&d).unwrap(), vec!["a", "bc"]);
    }
}
