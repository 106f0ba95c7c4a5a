//! The profile: the store model and the registry model as data.
//!
//! The default profile, [`Profile::exchange55`], is exactly store-model.md and
//! registry-model.md. Every table, column, index, key and value name the patch and `inspect`
//! use comes from here, so that a site whose stores differ can describe them without changing
//! code (a profile serialises to and from JSON).

use crate::ese::write::{ColumnDef, ColumnType, IndexDef, Storage, TableDef};
use serde::{Deserialize, Serialize};

/// The two information stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The private information store, `PRIV.EDB` (mailboxes).
    Priv,
    /// The public information store, `PUB.EDB` (public folders).
    Pub,
}

impl StoreKind {
    pub const ALL: [StoreKind; 2] = [StoreKind::Priv, StoreKind::Pub];

    /// `priv` / `pub`: the store's name in reports and in GUID derivation (store-model.md).
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Priv => "priv",
            StoreKind::Pub => "pub",
        }
    }

    /// The database file name Exchange 5.5 gives the store.
    pub fn file_name(self) -> &'static str {
        match self {
            StoreKind::Priv => "PRIV.EDB",
            StoreKind::Pub => "PUB.EDB",
        }
    }
}

/// Table names of the default profile (store-model.md, "Tables").
pub mod table {
    pub const GLOBALS: &str = "Globals";
    pub const FOLDERS: &str = "Folders";
    pub const MSG: &str = "Msg";
    pub const REPL_STATE: &str = "ReplState";
}

/// Column names of the default profile (store-model.md, "Tables").
pub mod column {
    pub const GLOBALS_ID: &str = "GlobalsId";
    pub const BASE_GUID: &str = "BaseGuid";
    pub const NEXT_GLOB_CNT: &str = "NextGlobCnt";
    pub const PATCH_STATE: &str = "PatchState";
    pub const PATCH_COUNT: &str = "PatchCount";
    pub const PATCH_TIME: &str = "PatchTime";
    pub const SERVER_NAME: &str = "ServerName";
    pub const ORG_NAME: &str = "OrgName";
    pub const SITE_NAME: &str = "SiteName";
    pub const FOLDER_ID: &str = "FolderId";
    pub const PARENT_ID: &str = "ParentId";
    pub const SOURCE_GUID: &str = "SourceGuid";
    pub const CHANGE_NUM: &str = "ChangeNum";
    pub const MSG_COUNT: &str = "MsgCount";
    pub const DISPLAY_NAME: &str = "DisplayName";
    pub const MSG_ID: &str = "MsgId";
    pub const SIZE: &str = "Size";
    pub const SUBJECT: &str = "Subject";
    pub const BODY: &str = "Body";
    pub const REPL_STATE_ID: &str = "ReplStateId";
    pub const SERVER_GUID: &str = "ServerGuid";
    pub const CN_SEEN: &str = "CnSeen";
}

/// Index names of the default profile (store-model.md, "Tables").
pub mod index {
    pub const GLOBALS_PK: &str = "GlobalsPK";
    pub const FOLDERS_PK: &str = "FoldersPK";
    pub const FOLDERS_PARENT: &str = "FoldersParent";
    pub const MSG_PK: &str = "MsgPK";
    pub const MSG_FOLDER: &str = "MsgFolder";
    pub const REPL_STATE_PK: &str = "ReplStatePK";
    pub const REPL_STATE_FOLDER: &str = "ReplStateFolder";
}

/// Windows code page 1252 (Western European), the code page of the store's text columns.
pub const CODE_PAGE_1252: u16 = 1252;
/// `ServerName`: a NetBIOS name, ≤ 15 characters (store-model.md).
pub const SERVER_NAME_MAX: u32 = 15;
/// `OrgName`, `SiteName`: ≤ 64 characters (store-model.md).
pub const ORG_SITE_MAX: u32 = 64;
/// `DisplayName`, `Subject`: ≤ 255 characters (store-model.md).
pub const DISPLAY_TEXT_MAX: u32 = 255;
/// `Msg.Body` is kept in the record: at most 1,024 bytes (store-model.md).
pub const BODY_MAX: u32 = 1024;
/// A GUID column: Binary, 16 bytes, fixed (store-model.md).
pub const GUID_COLUMN_LEN: u32 = 16;

/// One table of the store model and the files that hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreTable {
    pub def: TableDef,
    /// The stores whose database holds this table.
    pub stores: Vec<StoreKind>,
}

/// The columns the patch reads and rewrites (store-model.md, "The patch"), by role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRoles {
    pub globals: String,
    pub base_guid: String,
    pub next_glob_cnt: String,
    pub patch_state: String,
    pub patch_count: String,
    pub patch_time: String,
    pub server_name: String,
    /// Tables whose rows carry the GUID of the store that created them, and that column.
    pub source_guid_tables: Vec<(String, String)>,
    /// The replication-state table (`PUB.EDB` only), its replica GUID column and the
    /// change-number column reset when the replica is the store itself.
    pub repl_state: String,
    pub repl_server_guid: String,
    pub repl_cn_seen: String,
}

/// The store model (store-model.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreModel {
    pub tables: Vec<StoreTable>,
    pub roles: StoreRoles,
}

/// Key and value names in `SYSTEM` (registry-model.md, "SYSTEM").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemModel {
    /// `Select`, with `Current`, `Default`, `LastKnownGood` (REG_DWORD n → `ControlSet00n`).
    pub select: String,
    pub select_current: String,
    pub select_default: String,
    pub select_last_known_good: String,
    /// `ControlSet`: control sets are `ControlSet001`, `ControlSet002`, ...
    pub control_set_prefix: String,
    /// `CurrentControlSet`: the boot-time link, found only inside paths (`RegSync` values).
    pub current_control_set: String,
    /// `Control\ComputerName\ComputerName`, relative to a control set.
    pub computer_name_key: Vec<String>,
    /// `ComputerName` (REG_SZ).
    pub computer_name_value: String,
    /// `Services\MSExchangeIS`, relative to a control set.
    pub store_service_key: Vec<String>,
    pub params_private: String,
    pub params_public: String,
    pub params_system: String,
    /// `DB Path` (REG_SZ) in `ParametersPrivate` / `ParametersPublic`.
    pub db_path: String,
    /// `Base GUID` (REG_BINARY, 16 bytes) in `ParametersPrivate` / `ParametersPublic` (model).
    pub base_guid: String,
    /// `DB Log Path`, `Working Directory` (REG_SZ) in `ParametersSystem`.
    pub db_log_path: String,
    pub working_directory: String,
    /// `DSA Computer`, `MTA Computer`, `This Server` (REG_SZ) in `ParametersSystem`.
    pub server_name_values: Vec<String>,
    /// `Restore in Progress`: a subkey of `MSExchangeIS` whose presence is a refusal.
    pub restore_in_progress: String,
}

/// Key and value names in `SOFTWARE` (registry-model.md, "SOFTWARE").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftwareModel {
    /// `Microsoft\Windows NT\CurrentVersion`.
    pub current_version_key: Vec<String>,
    pub current_version: String,
    pub current_build_number: String,
    pub csd_version: String,
    /// `Microsoft\Exchange\Setup`.
    pub exchange_setup_key: Vec<String>,
    pub exchange_services: String,
    pub newest_build: String,
}

/// Key, value and type names in the cluster hive (registry-model.md, "The cluster hive").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterModel {
    pub cluster_name: String,
    pub groups: String,
    pub resources: String,
    pub name: String,
    pub type_: String,
    pub contains: String,
    pub persistent_state: String,
    pub depends_on: String,
    pub parameters: String,
    pub network_name_type: String,
    /// `Parameters\Name` of a `Network Name` resource: the virtual server's NetBIOS name.
    pub network_name_param: String,
    pub physical_disk_type: String,
    pub disk_signature: String,
    pub ip_address_type: String,
    pub store_resource_type: String,
    pub regsync: String,
    pub quorum: String,
    pub quorum_path: String,
    pub quorum_resource: String,
    pub nodes: String,
    pub node_name: String,
    /// Extension of a registry checkpoint file: `<Quorum Path>\<id>\NNNNNNNN.CPT`.
    pub checkpoint_extension: String,
}

/// The whole profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub store: StoreModel,
    pub system: SystemModel,
    pub software: SoftwareModel,
    pub cluster: ClusterModel,
}

fn fixed(name: &str, coltyp: ColumnType, len: u32) -> ColumnDef {
    ColumnDef {
        name: name.to_string(),
        coltyp,
        storage: Storage::Fixed,
        max_len: len,
        code_page: 0,
    }
}

/// Natural sizes of the fixed types (reference/ese.md §6).
const LONG_LEN: u32 = 4;
const CURRENCY_LEN: u32 = 8;
const DATETIME_LEN: u32 = 8;

fn long(name: &str) -> ColumnDef {
    fixed(name, ColumnType::Long, LONG_LEN)
}

fn currency(name: &str) -> ColumnDef {
    fixed(name, ColumnType::Currency, CURRENCY_LEN)
}

fn guid(name: &str) -> ColumnDef {
    fixed(name, ColumnType::Binary, GUID_COLUMN_LEN)
}

fn text(name: &str, max: u32) -> ColumnDef {
    ColumnDef {
        name: name.to_string(),
        coltyp: ColumnType::Text,
        storage: Storage::Variable,
        max_len: max,
        code_page: CODE_PAGE_1252,
    }
}

fn primary(name: &str, column: &str) -> IndexDef {
    IndexDef {
        name: name.to_string(),
        columns: vec![(column.to_string(), true)],
        primary: true,
        unique: true,
    }
}

/// A non-unique ascending secondary index over one column.
pub fn secondary(name: &str, column: &str) -> IndexDef {
    IndexDef {
        name: name.to_string(),
        columns: vec![(column.to_string(), true)],
        primary: false,
        unique: false,
    }
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

impl Profile {
    /// The default profile: store-model.md and registry-model.md.
    pub fn exchange55() -> Profile {
        use column as c;
        let globals = TableDef {
            long_values: false,
            name: table::GLOBALS.into(),
            columns: vec![
                long(c::GLOBALS_ID),
                guid(c::BASE_GUID),
                currency(c::NEXT_GLOB_CNT),
                long(c::PATCH_STATE),
                long(c::PATCH_COUNT),
                fixed(c::PATCH_TIME, ColumnType::DateTime, DATETIME_LEN),
                text(c::SERVER_NAME, SERVER_NAME_MAX),
                text(c::ORG_NAME, ORG_SITE_MAX),
                text(c::SITE_NAME, ORG_SITE_MAX),
            ],
            indexes: vec![primary(index::GLOBALS_PK, c::GLOBALS_ID)],
        };
        let folders = TableDef {
            long_values: false,
            name: table::FOLDERS.into(),
            columns: vec![
                currency(c::FOLDER_ID),
                currency(c::PARENT_ID),
                guid(c::SOURCE_GUID),
                currency(c::CHANGE_NUM),
                long(c::MSG_COUNT),
                text(c::DISPLAY_NAME, DISPLAY_TEXT_MAX),
            ],
            indexes: vec![
                primary(index::FOLDERS_PK, c::FOLDER_ID),
                secondary(index::FOLDERS_PARENT, c::PARENT_ID),
            ],
        };
        let msg = TableDef {
            long_values: false,
            name: table::MSG.into(),
            columns: vec![
                currency(c::MSG_ID),
                currency(c::FOLDER_ID),
                guid(c::SOURCE_GUID),
                currency(c::CHANGE_NUM),
                long(c::SIZE),
                text(c::SUBJECT, DISPLAY_TEXT_MAX),
                ColumnDef {
                    name: c::BODY.into(),
                    coltyp: ColumnType::LongBinary,
                    storage: Storage::Tagged,
                    max_len: BODY_MAX,
                    code_page: 0,
                },
            ],
            indexes: vec![
                primary(index::MSG_PK, c::MSG_ID),
                secondary(index::MSG_FOLDER, c::FOLDER_ID),
            ],
        };
        let repl = TableDef {
            long_values: false,
            name: table::REPL_STATE.into(),
            columns: vec![
                long(c::REPL_STATE_ID),
                currency(c::FOLDER_ID),
                guid(c::SERVER_GUID),
                currency(c::CN_SEEN),
            ],
            indexes: vec![
                primary(index::REPL_STATE_PK, c::REPL_STATE_ID),
                secondary(index::REPL_STATE_FOLDER, c::FOLDER_ID),
            ],
        };
        let both = vec![StoreKind::Priv, StoreKind::Pub];
        Profile {
            name: "exchange55".into(),
            store: StoreModel {
                tables: vec![
                    StoreTable {
                        def: globals,
                        stores: both.clone(),
                    },
                    StoreTable {
                        def: folders,
                        stores: both.clone(),
                    },
                    StoreTable {
                        def: msg,
                        stores: both,
                    },
                    StoreTable {
                        def: repl,
                        stores: vec![StoreKind::Pub],
                    },
                ],
                roles: StoreRoles {
                    globals: table::GLOBALS.into(),
                    base_guid: c::BASE_GUID.into(),
                    next_glob_cnt: c::NEXT_GLOB_CNT.into(),
                    patch_state: c::PATCH_STATE.into(),
                    patch_count: c::PATCH_COUNT.into(),
                    patch_time: c::PATCH_TIME.into(),
                    server_name: c::SERVER_NAME.into(),
                    source_guid_tables: vec![
                        (table::FOLDERS.into(), c::SOURCE_GUID.into()),
                        (table::MSG.into(), c::SOURCE_GUID.into()),
                    ],
                    repl_state: table::REPL_STATE.into(),
                    repl_server_guid: c::SERVER_GUID.into(),
                    repl_cn_seen: c::CN_SEEN.into(),
                },
            },
            system: SystemModel {
                select: "Select".into(),
                select_current: "Current".into(),
                select_default: "Default".into(),
                select_last_known_good: "LastKnownGood".into(),
                control_set_prefix: "ControlSet".into(),
                current_control_set: "CurrentControlSet".into(),
                computer_name_key: strings(&["Control", "ComputerName", "ComputerName"]),
                computer_name_value: "ComputerName".into(),
                store_service_key: strings(&["Services", "MSExchangeIS"]),
                params_private: "ParametersPrivate".into(),
                params_public: "ParametersPublic".into(),
                params_system: "ParametersSystem".into(),
                db_path: "DB Path".into(),
                base_guid: "Base GUID".into(),
                db_log_path: "DB Log Path".into(),
                working_directory: "Working Directory".into(),
                server_name_values: strings(&["DSA Computer", "MTA Computer", "This Server"]),
                restore_in_progress: "Restore in Progress".into(),
            },
            software: SoftwareModel {
                current_version_key: strings(&["Microsoft", "Windows NT", "CurrentVersion"]),
                current_version: "CurrentVersion".into(),
                current_build_number: "CurrentBuildNumber".into(),
                csd_version: "CSDVersion".into(),
                exchange_setup_key: strings(&["Microsoft", "Exchange", "Setup"]),
                exchange_services: "Services".into(),
                newest_build: "NewestBuild".into(),
            },
            cluster: ClusterModel {
                cluster_name: "ClusterName".into(),
                groups: "Groups".into(),
                resources: "Resources".into(),
                name: "Name".into(),
                type_: "Type".into(),
                contains: "Contains".into(),
                persistent_state: "PersistentState".into(),
                depends_on: "DependsOn".into(),
                parameters: "Parameters".into(),
                network_name_type: "Network Name".into(),
                network_name_param: "Name".into(),
                physical_disk_type: "Physical Disk".into(),
                disk_signature: "Signature".into(),
                ip_address_type: "IP Address".into(),
                store_resource_type: "Microsoft Exchange Information Store".into(),
                regsync: "RegSync".into(),
                quorum: "Quorum".into(),
                quorum_path: "Path".into(),
                quorum_resource: "Resource".into(),
                nodes: "Nodes".into(),
                node_name: "NodeName".into(),
                checkpoint_extension: ".CPT".into(),
            },
        }
    }

    /// The tables of one store's database, in profile order.
    pub fn tables_for(&self, store: StoreKind) -> impl Iterator<Item = &TableDef> {
        self.store
            .tables
            .iter()
            .filter(move |t| t.stores.contains(&store))
            .map(|t| &t.def)
    }

    /// A table of the store model by name.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.store
            .tables
            .iter()
            .map(|t| &t.def)
            .find(|t| t.name == name)
    }
}

impl SystemModel {
    /// `ControlSet00n` for `Select` value `n`.
    pub fn control_set_name(&self, n: u32) -> String {
        format!("{}{n:03}", self.control_set_prefix)
    }

    /// `ParametersPrivate` / `ParametersPublic`.
    pub fn store_params(&self, store: StoreKind) -> &str {
        match store {
            StoreKind::Priv => &self.params_private,
            StoreKind::Pub => &self.params_public,
        }
    }
}

impl ClusterModel {
    /// The checkpoint file name of `RegSync` value `value_name` (`00000001` → `00000001.CPT`).
    pub fn checkpoint_file_name(&self, value_name: &str) -> String {
        format!("{value_name}{}", self.checkpoint_extension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_one_primary_index_over_existing_columns() {
        let p = Profile::exchange55();
        for t in &p.store.tables {
            assert_eq!(
                t.def.indexes.iter().filter(|i| i.primary).count(),
                1,
                "{}",
                t.def.name
            );
            for i in &t.def.indexes {
                for (col, _) in &i.columns {
                    assert!(
                        t.def.columns.iter().any(|c| &c.name == col),
                        "{}.{}",
                        t.def.name,
                        col
                    );
                }
            }
        }
    }

    #[test]
    fn repl_state_is_in_pub_only() {
        let p = Profile::exchange55();
        let names = |s| p.tables_for(s).map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(StoreKind::Priv), ["Globals", "Folders", "Msg"]);
        assert_eq!(
            names(StoreKind::Pub),
            ["Globals", "Folders", "Msg", "ReplState"]
        );
    }

    #[test]
    fn no_index_covers_a_column_the_patch_rewrites() {
        let p = Profile::exchange55();
        let r = &p.store.roles;
        let mut rewritten: Vec<(&str, &str)> = r
            .source_guid_tables
            .iter()
            .map(|(t, c)| (t.as_str(), c.as_str()))
            .collect();
        for col in [
            &r.base_guid,
            &r.server_name,
            &r.patch_state,
            &r.patch_count,
            &r.patch_time,
        ] {
            rewritten.push((&r.globals, col));
        }
        rewritten.push((&r.repl_state, &r.repl_server_guid));
        rewritten.push((&r.repl_state, &r.repl_cn_seen));
        for (table, col) in rewritten {
            let t = p.table(table).expect("role names an existing table");
            let c = t.columns.iter().find(|c| c.name == col);
            assert!(c.is_some(), "{table}.{col} exists");
            assert!(
                !t.indexes
                    .iter()
                    .any(|i| i.columns.iter().any(|(n, _)| n == col)),
                "{table}.{col} is indexed"
            );
        }
    }

    #[test]
    fn guid_columns_are_fixed_16_byte_binary() {
        let p = Profile::exchange55();
        for t in &p.store.tables {
            for c in &t.def.columns {
                if c.name.ends_with("Guid") {
                    assert_eq!(
                        (c.coltyp, c.storage, c.max_len),
                        (ColumnType::Binary, Storage::Fixed, 16)
                    );
                }
            }
        }
    }

    #[test]
    fn profile_round_trips_through_json() {
        let p = Profile::exchange55();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
    }

    #[test]
    fn control_set_and_checkpoint_names() {
        let p = Profile::exchange55();
        assert_eq!(p.system.control_set_name(1), "ControlSet001");
        assert_eq!(p.system.control_set_name(12), "ControlSet012");
        assert_eq!(p.cluster.checkpoint_file_name("00000001"), "00000001.CPT");
    }
}
