//! The image specification: every name, GUID, flag and time of an image, computed from the
//! parameters alone (product.md, "Lab images"). The row streams ([`super::rows`]), the key
//! trees ([`super::hives`]) and the ground truth ([`super::truth`]) are all read from it.
//!
//! Each scenario's defect is one field here (see [`ImageSpec::new`]), so that a test can check
//! that a scenario differs from `restored` by exactly that field.

use super::params::{ImageParams, Layout, Scenario};
use super::rng::SplitMix64;
use coldpatch::ese::write::IndexDef;
use coldpatch::exchange::profile::{column, secondary, table, Profile};
use coldpatch::exchange::{Guid, StoreKind};
use coldpatch::regf::write::ValueSpec;
use serde::Serialize;

/// The production server the backup came from (product.md).
pub const PRODUCTION_SERVER: &str = "EXPROD1";
/// The server name a stale `SYSTEM.ALT` still holds (scenario `stale-alt`).
pub const PREVIOUS_SERVER: &str = "EXOLD1";
/// Cluster names (product.md).
pub const CLUSTER_NAME: &str = "EXCLUSTER";
pub const NODES: [&str; 2] = ["NODE1", "NODE2"];
pub const CLUSTER_GROUP: &str = "Cluster Group";
pub const EXCHANGE_GROUP: &str = "EXCHANGE GROUP";
pub const VIRTUAL_SERVER: &str = "EXVS1";
/// The common (display) name of the Exchange group's Network Name resource: deliberately not
/// the virtual server name, which is the resource's private `Parameters\Name`.
pub const EXCHANGE_NETWORK_NAME_RESOURCE: &str = "Exchange Network Name";
pub const STORE_RESOURCE_NAME: &str = "Microsoft Exchange Information Store";
/// The standalone server's computer name (issue text).
pub const STANDALONE_COMPUTER: &str = "EXLAB1";
pub const ORG_NAME: &str = "Contoso Lab";
pub const SITE_NAME: &str = "HQ";
/// The other servers of the organisation, whose GUIDs replicated rows carry.
pub const FOREIGN_SERVERS: [&str; 4] = ["EXHUB2", "EXPF3", "EXNY4", "EXLON5"];
/// The first (and only) `RegSync` value of the store resource and the key it checkpoints.
pub const REGSYNC_VALUE: &str = "00000001";
pub const REGSYNC_KEY: &str = r"SYSTEM\CurrentControlSet\Services\MSExchangeIS";
/// `Quorum\Path` (registry-model.md example).
pub const QUORUM_PATH: &str = r"Q:\MSCS\";
/// NT 4.0 Service Pack 6: major, minor, build, service pack.
pub const OS_VERSION: (u32, u32, u32, u32) = (4, 0, 1381, 6);
/// Exchange 5.5 SP4 (registry-model.md: `NewestBuild` 2653).
pub const EXCHANGE_BUILD: u32 = 2653;
/// `ControlSet001` is current and default, `ControlSet002` last known good.
pub const CURRENT_CONTROL_SET: u32 = 1;
pub const LAST_KNOWN_GOOD_CONTROL_SET: u32 = 2;
/// The index the `indexed-guid` scenario adds.
pub const SOURCE_GUID_INDEX: &str = "MsgSourceGuid";

/// Labels of [`Guid::derive`] for the GUIDs of an image.
const LABEL_PRODUCTION: &str = "mkimage production base GUID";
const LABEL_LAB: &str = "mkimage lab registry base GUID";
const LABEL_PATCHED: &str = "mkimage patched base GUID";
const LABEL_STALE: &str = "mkimage stale mirror base GUID";
const LABEL_FOREIGN: &str = "mkimage foreign base GUID";
const LABEL_CLUSTER: &str = "mkimage cluster object id";

/// 2001-03-16 00:00:00 UTC: the earliest backup time; the seed adds up to 30 days.
const BACKUP_EPOCH_UNIX: i64 = 984_700_800;
/// 1999-01-04 00:00:00 UTC: the earliest database creation time; the seed adds up to a year.
const CREATED_EPOCH_UNIX: i64 = 915_408_000;
const DAY: i64 = 86_400;
/// Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET: i64 = 11_644_473_600;
/// Days from 1899-12-30 (OLE automation date epoch) to 1970-01-01.
const OLE_UNIX_OFFSET_DAYS: f64 = 25_569.0;

/// FILETIME (100 ns since 1601-01-01 UTC) of a Unix time.
pub fn filetime(unix: i64) -> u64 {
    ((unix + FILETIME_UNIX_OFFSET) as u64) * 10_000_000
}

/// OLE automation date (days since 1899-12-30) of a Unix time.
pub fn ole_date(unix: i64) -> f64 {
    unix as f64 / DAY as f64 + OLE_UNIX_OFFSET_DAYS
}

/// Which drive letter holds what.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Volumes {
    pub system: char,
    pub exchange: char,
    pub quorum: Option<char>,
}

/// One store database.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreSpec {
    pub kind: StoreKind,
    /// `Globals.BaseGuid`, and the `SourceGuid` of the store's own rows.
    pub base_guid: Guid,
    pub server_name: String,
    pub patch_state: i32,
    pub patch_count: i32,
    /// OLE date; 0.0 when never patched.
    pub patch_time: f64,
    pub clean_shutdown: bool,
    /// `bad-page`: one data page gets a wrong checksum after the build.
    pub bad_page: bool,
    /// Secondary indexes beyond the profile's, as (table, index).
    pub extra_indexes: Vec<(String, IndexDef)>,
    /// `hidden-guid`: the `Attach` table (unknown to the store model) holds the base GUID.
    pub hidden_guid: bool,
    pub signature_random: u32,
    /// The database path as the registry names it.
    pub windows_path: String,
    /// The GUIDs of other servers' stores of this kind that replicated rows carry.
    pub foreign_guids: Vec<Guid>,
}

/// What one copy of the `MSExchangeIS` key holds, and the hive-wide facts of its file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegistryState {
    pub priv_base_guid: Guid,
    pub pub_base_guid: Guid,
    /// `DSA Computer`, `MTA Computer`, `This Server`.
    pub server_name: String,
    pub restore_in_progress: bool,
    pub sequence: u32,
    /// FILETIME.
    pub timestamp: u64,
}

impl RegistryState {
    pub fn base_guid(&self, kind: StoreKind) -> Guid {
        match kind {
            StoreKind::Priv => self.priv_base_guid,
            StoreKind::Pub => self.pub_base_guid,
        }
    }
}

/// A hive with no Exchange state in it: only its file facts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HiveFacts {
    pub sequence: u32,
    pub timestamp: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSpec {
    pub id: Guid,
    pub name: String,
    pub contains: Vec<Guid>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceSpec {
    pub id: Guid,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub depends_on: Vec<Guid>,
    /// Values of the `Parameters` subkey.
    pub parameters: Vec<ValueSpec>,
    /// `RegSync` values: (value name, checkpointed key path relative to HKLM).
    pub regsync: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterSpec {
    pub name: String,
    pub nodes: Vec<String>,
    pub virtual_server: String,
    pub groups: Vec<GroupSpec>,
    pub resources: Vec<ResourceSpec>,
    pub quorum_path: String,
    pub quorum_resource: Guid,
    pub store_resource: Guid,
    pub clusdb: HiveFacts,
    /// The `.CPT` file of the store resource's `RegSync` key; `false`: `missing-checkpoint`.
    pub checkpoint_present: bool,
}

/// Fixed times of the image (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Times {
    pub db_created_unix: i64,
    pub backup_unix: i64,
}

/// Everything an image holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageSpec {
    pub params: ImageParams,
    #[serde(skip)]
    pub profile: Profile,
    pub computer_name: String,
    pub target_server_name: String,
    pub volumes: Volumes,
    /// `priv`, then `pub`.
    pub stores: Vec<StoreSpec>,
    pub foreign_servers: Vec<String>,
    pub system: RegistryState,
    pub system_alt: RegistryState,
    /// `dirty-hive`: `SYSTEM` written with differing sequence numbers and a `.LOG`.
    pub system_dirty: bool,
    pub software: HiveFacts,
    /// The checkpoint of the `MSExchangeIS` key (cluster only).
    pub checkpoint: Option<RegistryState>,
    pub cluster: Option<ClusterSpec>,
    pub times: Times,
}

fn cluster_id(seed: &str, role: &str) -> Guid {
    Guid::derive(LABEL_CLUSTER, seed, role)
}

impl ImageSpec {
    /// The specification of the image `params` describe. `params` should be validated first
    /// ([`ImageParams::validate`]); nothing here fails.
    pub fn new(params: &ImageParams) -> ImageSpec {
        let seed = params.seed.as_str();
        let scenario = params.scenario;
        let profile = Profile::exchange55();
        let mut rng = SplitMix64::keyed(seed, "spec");

        let backup_unix = BACKUP_EPOCH_UNIX + rng.below(30 * DAY as u64) as i64;
        let db_created_unix = CREATED_EPOCH_UNIX + rng.below(365 * DAY as u64) as i64;
        let times = Times {
            db_created_unix,
            backup_unix,
        };
        let hive_time = filetime(backup_unix);

        let (computer_name, target_server_name, volumes) = match params.layout {
            Layout::Cluster => (
                NODES[0].to_string(),
                VIRTUAL_SERVER.to_string(),
                Volumes {
                    system: 'C',
                    exchange: 'E',
                    quorum: Some('Q'),
                },
            ),
            Layout::Standalone => (
                STANDALONE_COMPUTER.to_string(),
                STANDALONE_COMPUTER.to_string(),
                Volumes {
                    system: 'C',
                    exchange: 'D',
                    quorum: None,
                },
            ),
        };

        // Base GUIDs: the databases come from production; the registry is the lab's own.
        // `patched`: one new GUID per store everywhere, as after a patch.
        let patched = scenario == Scenario::Patched;
        let db_guid = |kind: StoreKind| {
            let label = if patched {
                LABEL_PATCHED
            } else {
                LABEL_PRODUCTION
            };
            Guid::derive(label, seed, kind.name())
        };
        let reg_guid = |kind: StoreKind| {
            let label = if patched { LABEL_PATCHED } else { LABEL_LAB };
            Guid::derive(label, seed, kind.name())
        };
        let names_in_place = if patched {
            target_server_name.clone()
        } else {
            PRODUCTION_SERVER.to_string()
        };

        let stores = StoreKind::ALL
            .iter()
            .map(|&kind| {
                let is_priv = kind == StoreKind::Priv;
                let mut extra_indexes = Vec::new();
                if is_priv && scenario == Scenario::IndexedGuid {
                    extra_indexes.push((
                        table::MSG.to_string(),
                        secondary(SOURCE_GUID_INDEX, column::SOURCE_GUID),
                    ));
                }
                StoreSpec {
                    kind,
                    base_guid: db_guid(kind),
                    server_name: names_in_place.clone(),
                    patch_state: if patched { 0 } else { 1 },
                    patch_count: if patched { 1 } else { 0 },
                    patch_time: if patched {
                        ole_date(backup_unix + DAY)
                    } else {
                        0.0
                    },
                    clean_shutdown: !(is_priv && scenario == Scenario::DirtyDb),
                    bad_page: is_priv && scenario == Scenario::BadPage,
                    extra_indexes,
                    hidden_guid: is_priv && scenario == Scenario::HiddenGuid,
                    signature_random: rng.next_u32(),
                    windows_path: format!(
                        "{}:\\exchsrvr\\MDBDATA\\{}",
                        volumes.exchange,
                        kind.file_name()
                    ),
                    foreign_guids: FOREIGN_SERVERS
                        .iter()
                        .map(|s| Guid::derive(LABEL_FOREIGN, seed, &format!("{s}/{}", kind.name())))
                        .collect(),
                }
            })
            .collect();

        let system_sequence = 0x200 + rng.below(0x400) as u32;
        let system = RegistryState {
            priv_base_guid: reg_guid(StoreKind::Priv),
            pub_base_guid: reg_guid(StoreKind::Pub),
            server_name: names_in_place.clone(),
            restore_in_progress: scenario == Scenario::RestoreInProgress,
            sequence: system_sequence,
            timestamp: hive_time,
        };
        let stale_sequence_gap = 1 + rng.below(40) as u32;
        let stale_days = 3 + rng.below(20) as i64;
        let system_alt = if scenario == Scenario::StaleAlt {
            RegistryState {
                priv_base_guid: Guid::derive(LABEL_STALE, seed, StoreKind::Priv.name()),
                pub_base_guid: Guid::derive(LABEL_STALE, seed, StoreKind::Pub.name()),
                server_name: PREVIOUS_SERVER.to_string(),
                restore_in_progress: false,
                sequence: system_sequence - stale_sequence_gap,
                timestamp: filetime(backup_unix - stale_days * DAY),
            }
        } else {
            system.clone()
        };
        let software = HiveFacts {
            sequence: 0x100 + rng.below(0x400) as u32,
            timestamp: hive_time,
        };
        let clusdb_sequence = 0x80 + rng.below(0x200) as u32;
        let checkpoint_sequence = 1 + rng.below(0x40) as u32;

        let (checkpoint, cluster) = match params.layout {
            Layout::Standalone => (None, None),
            Layout::Cluster => {
                let checkpoint = RegistryState {
                    restore_in_progress: false,
                    sequence: checkpoint_sequence,
                    ..system.clone()
                };
                let cluster = cluster_spec(seed, &mut rng, scenario, clusdb_sequence, hive_time);
                (Some(checkpoint), Some(cluster))
            }
        };

        ImageSpec {
            params: params.clone(),
            profile,
            computer_name,
            target_server_name,
            volumes,
            stores,
            foreign_servers: FOREIGN_SERVERS.iter().map(|s| s.to_string()).collect(),
            system,
            system_alt,
            system_dirty: scenario == Scenario::DirtyHive,
            software,
            checkpoint,
            cluster,
            times,
        }
    }

    pub fn store(&self, kind: StoreKind) -> &StoreSpec {
        match kind {
            StoreKind::Priv => &self.stores[0],
            StoreKind::Pub => &self.stores[1],
        }
    }

    /// Every NetBIOS name the image holds, for validation.
    pub fn netbios_names(&self) -> Vec<&str> {
        let mut names = vec![
            self.computer_name.as_str(),
            self.target_server_name.as_str(),
            self.system.server_name.as_str(),
            self.system_alt.server_name.as_str(),
        ];
        names.extend(self.stores.iter().map(|s| s.server_name.as_str()));
        names.extend(self.foreign_servers.iter().map(String::as_str));
        if let Some(c) = &self.cluster {
            names.push(&c.name);
            names.push(&c.virtual_server);
            names.extend(c.nodes.iter().map(String::as_str));
        }
        names
    }
}

fn cluster_spec(
    seed: &str,
    rng: &mut SplitMix64,
    scenario: Scenario,
    clusdb_sequence: u32,
    hive_time: u64,
) -> ClusterSpec {
    let id = |role: &str| cluster_id(seed, role);
    let cluster_ip = id("resource/cluster-ip");
    let cluster_name = id("resource/cluster-name");
    let quorum_disk = id("resource/quorum-disk");
    let exchange_ip = id("resource/exchange-ip");
    let exchange_name = id("resource/exchange-name");
    let exchange_disk = id("resource/exchange-disk");
    let store = id("resource/store");
    let subnet = 10 + rng.below(200);
    let ip = |host: u64| format!("192.168.{subnet}.{host}");
    let ip_params = |host: u64| {
        vec![
            ValueSpec::sz("Address", &ip(host)),
            ValueSpec::sz("SubnetMask", "255.255.255.0"),
            ValueSpec::sz("Network", "Public"),
            ValueSpec::dword("EnableNetBIOS", 1),
        ]
    };
    let resource = |id, name: &str, type_: &str, depends_on, parameters| ResourceSpec {
        id,
        name: name.to_string(),
        type_: type_.to_string(),
        depends_on,
        parameters,
        regsync: Vec::new(),
    };
    let mut resources = vec![
        resource(
            cluster_ip,
            "Cluster IP Address",
            "IP Address",
            vec![],
            ip_params(20),
        ),
        resource(
            cluster_name,
            "Cluster Name",
            "Network Name",
            vec![cluster_ip],
            vec![ValueSpec::sz("Name", CLUSTER_NAME)],
        ),
        resource(
            quorum_disk,
            "Disk Q:",
            "Physical Disk",
            vec![],
            vec![ValueSpec::dword("Signature", rng.next_u32())],
        ),
        resource(
            exchange_ip,
            "Exchange IP Address",
            "IP Address",
            vec![],
            ip_params(21),
        ),
        resource(
            exchange_name,
            EXCHANGE_NETWORK_NAME_RESOURCE,
            "Network Name",
            vec![exchange_ip],
            vec![ValueSpec::sz("Name", VIRTUAL_SERVER)],
        ),
        resource(
            exchange_disk,
            "Disk E:",
            "Physical Disk",
            vec![],
            vec![ValueSpec::dword("Signature", rng.next_u32())],
        ),
    ];
    let mut store_resource = resource(
        store,
        STORE_RESOURCE_NAME,
        STORE_RESOURCE_NAME,
        vec![exchange_name, exchange_disk],
        vec![],
    );
    store_resource.regsync = vec![(REGSYNC_VALUE.to_string(), REGSYNC_KEY.to_string())];
    resources.push(store_resource);
    ClusterSpec {
        name: CLUSTER_NAME.to_string(),
        nodes: NODES.iter().map(|s| s.to_string()).collect(),
        virtual_server: VIRTUAL_SERVER.to_string(),
        groups: vec![
            GroupSpec {
                id: id("group/cluster"),
                name: CLUSTER_GROUP.to_string(),
                contains: vec![cluster_ip, cluster_name, quorum_disk],
            },
            GroupSpec {
                id: id("group/exchange"),
                name: EXCHANGE_GROUP.to_string(),
                contains: vec![exchange_ip, exchange_name, exchange_disk, store],
            },
        ],
        resources,
        quorum_path: QUORUM_PATH.to_string(),
        quorum_resource: quorum_disk,
        store_resource: store,
        clusdb: HiveFacts {
            sequence: clusdb_sequence,
            timestamp: hive_time,
        },
        checkpoint_present: scenario != Scenario::MissingCheckpoint,
    }
}
