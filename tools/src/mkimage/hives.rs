//! The key trees of the image's hives (registry-model.md): `SYSTEM` (and `SYSTEM.ALT`),
//! `SOFTWARE`, the cluster hive `CLUSDB` and the checkpoint of the `MSExchangeIS` key; the
//! hive-wide options each is written with.

use super::spec::{
    ClusterSpec, ImageSpec, RegistryState, CURRENT_CONTROL_SET, EXCHANGE_BUILD,
    LAST_KNOWN_GOOD_CONTROL_SET, OS_VERSION,
};
use crate::writers::HiveEdit;
use coldpatch::exchange::StoreKind;
use coldpatch::regf::write::{HiveOptions, KeySpec, ValueSpec, REG_EXPAND_SZ};
use serde::Serialize;

/// The root key name of the hives Windows NT creates from its prototype hive (`SYSTEM`,
/// `SOFTWARE`).
pub const PROTO_ROOT_NAME: &str = "$$$PROTO.HIV";

/// Hive format 1.3, as NT4 and Windows 2000 write it (registry-model.md).
pub const HIVE_MINOR_VERSION: u32 = 3;

/// A key with values and subkeys.
pub fn key(name: &str, values: Vec<ValueSpec>, subkeys: Vec<KeySpec>) -> KeySpec {
    KeySpec {
        name: name.to_string(),
        class: None,
        values,
        subkeys,
    }
}

fn expand_sz(name: &str, text: &str) -> ValueSpec {
    ValueSpec {
        kind: REG_EXPAND_SZ,
        ..ValueSpec::sz(name, text)
    }
}

/// Sorts every subkey list by upper-cased name, the order a hive's lists keep.
pub fn sort_tree(k: &mut KeySpec) {
    k.subkeys
        .sort_by_key(|s| s.name.to_uppercase().encode_utf16().collect::<Vec<u16>>());
    for s in &mut k.subkeys {
        sort_tree(s);
    }
}

/// The key at `path` below `root` (case-insensitive, as Windows finds keys).
pub fn find<'a>(root: &'a KeySpec, path: &[&str]) -> Option<&'a KeySpec> {
    path.iter().try_fold(root, |k, part| {
        k.subkeys.iter().find(|s| s.name.eq_ignore_ascii_case(part))
    })
}

fn find_mut<'a>(root: &'a mut KeySpec, path: &[String]) -> Option<&'a mut KeySpec> {
    let mut k = root;
    for part in path {
        k = k
            .subkeys
            .iter_mut()
            .find(|s| s.name.eq_ignore_ascii_case(part))?;
    }
    Some(k)
}

/// A value of a key (case-insensitive name).
pub fn value<'a>(k: &'a KeySpec, name: &str) -> Option<&'a ValueSpec> {
    k.values.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

/// One difference between two key trees.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TreeDiff {
    KeyAdded(String),
    KeyRemoved(String),
    ValueAdded(String),
    ValueRemoved(String),
    ValueChanged(String),
    ClassChanged(String),
}

/// Every difference from `a` to `b`, as paths (`Key\Subkey` or `Key\Subkey:Value`); keys
/// added or removed are reported once, not their contents.
pub fn tree_diff(a: &KeySpec, b: &KeySpec) -> Vec<TreeDiff> {
    let mut out = Vec::new();
    diff_into(a, b, "", &mut out);
    out.sort();
    out
}

fn diff_into(a: &KeySpec, b: &KeySpec, path: &str, out: &mut Vec<TreeDiff>) {
    if a.class != b.class {
        out.push(TreeDiff::ClassChanged(path.to_string()));
    }
    for va in &a.values {
        match value(b, &va.name) {
            None => out.push(TreeDiff::ValueRemoved(format!("{path}:{}", va.name))),
            Some(vb) if vb != va => out.push(TreeDiff::ValueChanged(format!("{path}:{}", va.name))),
            Some(_) => {}
        }
    }
    for vb in &b.values {
        if value(a, &vb.name).is_none() {
            out.push(TreeDiff::ValueAdded(format!("{path}:{}", vb.name)));
        }
    }
    let join = |n: &str| {
        if path.is_empty() {
            n.to_string()
        } else {
            format!("{path}\\{n}")
        }
    };
    for sa in &a.subkeys {
        match b
            .subkeys
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&sa.name))
        {
            None => out.push(TreeDiff::KeyRemoved(join(&sa.name))),
            Some(sb) => diff_into(sa, sb, &join(&sa.name), out),
        }
    }
    for sb in &b.subkeys {
        if !a
            .subkeys
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(&sb.name))
        {
            out.push(TreeDiff::KeyAdded(join(&sb.name)));
        }
    }
}

/// A self-relative security descriptor for every key: owner Administrators, group SYSTEM,
/// DACL: Administrators and SYSTEM full control, Everyone read, all inherited by subkeys.
/// Layout: `SECURITY_DESCRIPTOR_RELATIVE`, `ACL`, `ACCESS_ALLOWED_ACE`, `SID` (MS-DTYP 2.4).
pub fn key_security_descriptor() -> Vec<u8> {
    /// `SE_SELF_RELATIVE | SE_DACL_PRESENT` (MS-DTYP 2.4.6).
    const CONTROL: u16 = 0x8004;
    /// `KEY_ALL_ACCESS`, `KEY_READ` (winnt.h).
    const KEY_ALL_ACCESS: u32 = 0x000F_003F;
    const KEY_READ: u32 = 0x0002_0019;
    /// `CONTAINER_INHERIT_ACE` (MS-DTYP 2.4.4.1).
    const CONTAINER_INHERIT: u8 = 0x02;
    const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
    const ACL_REVISION: u8 = 2;
    const SD_HEADER_LEN: usize = 20;
    const ACL_HEADER_LEN: usize = 8;
    const ACE_HEADER_LEN: usize = 8;

    fn sid(authority: u8, subs: &[u32]) -> Vec<u8> {
        let mut s = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, authority];
        for sub in subs {
            s.extend(sub.to_le_bytes());
        }
        s
    }
    let admins = sid(5, &[32, 544]);
    let system = sid(5, &[18]);
    let everyone = sid(1, &[0]);
    let aces: Vec<Vec<u8>> = [
        (KEY_ALL_ACCESS, &admins),
        (KEY_ALL_ACCESS, &system),
        (KEY_READ, &everyone),
    ]
    .iter()
    .map(|(mask, sid)| {
        let size = (ACE_HEADER_LEN + sid.len()) as u16;
        let mut a = vec![ACCESS_ALLOWED_ACE_TYPE, CONTAINER_INHERIT];
        a.extend(size.to_le_bytes());
        a.extend(mask.to_le_bytes());
        a.extend(sid.iter());
        a
    })
    .collect();
    let acl_len = ACL_HEADER_LEN + aces.iter().map(Vec::len).sum::<usize>();
    let mut acl = vec![ACL_REVISION, 0];
    acl.extend((acl_len as u16).to_le_bytes());
    acl.extend((aces.len() as u16).to_le_bytes());
    acl.extend([0, 0]);
    for a in &aces {
        acl.extend(a);
    }
    let dacl_at = SD_HEADER_LEN;
    let owner_at = dacl_at + acl.len();
    let group_at = owner_at + admins.len();
    let mut sd = vec![1, 0];
    sd.extend(CONTROL.to_le_bytes());
    sd.extend((owner_at as u32).to_le_bytes());
    sd.extend((group_at as u32).to_le_bytes());
    sd.extend(0u32.to_le_bytes());
    sd.extend((dacl_at as u32).to_le_bytes());
    sd.extend(acl);
    sd.extend(admins);
    sd.extend(system);
    sd
}

/// Hive options: format 1.3, the given sequence and timestamp, the debug file name.
pub fn hive_options(file_name: &str, sequence: u32, timestamp: u64) -> HiveOptions {
    HiveOptions {
        minor_version: HIVE_MINOR_VERSION,
        timestamp,
        sequence,
        file_name: file_name.to_string(),
        security_descriptor: key_security_descriptor(),
    }
}

/// The base-block file names Windows records (`\SystemRoot\...` as the kernel opened them).
pub const SYSTEM_FILE_NAME: &str = r"\SystemRoot\System32\Config\SYSTEM";
pub const SOFTWARE_FILE_NAME: &str = r"\SystemRoot\System32\Config\SOFTWARE";
pub const CLUSDB_FILE_NAME: &str = r"\SystemRoot\Cluster\CLUSDB";

/// The `MSExchangeIS` service key as one copy of the registry holds it. Its root name is
/// `MSExchangeIS` (in `SYSTEM` and as the root of the checkpoint hive).
///
/// `Restore in Progress` (when the state has it) goes only into the current control set:
/// an online restore writes `CurrentControlSet`, and the checkpoint never holds it (an online
/// resource overwrites it, peers.md §3.2).
pub fn store_service_key(spec: &ImageSpec, state: &RegistryState, current: bool) -> KeySpec {
    let m = &spec.profile.system;
    let mdbdata = format!("{}:\\exchsrvr\\MDBDATA", spec.volumes.exchange);
    let params = |kind: StoreKind| {
        key(
            m.store_params(kind),
            vec![
                ValueSpec::sz(&m.db_path, &spec.store(kind).windows_path),
                ValueSpec::binary(&m.base_guid, &state.base_guid(kind).to_windows_bytes()),
            ],
            vec![],
        )
    };
    let mut system_values = vec![
        ValueSpec::sz(&m.db_log_path, &mdbdata),
        ValueSpec::sz(&m.working_directory, &mdbdata),
        ValueSpec::dword("Circular Logging", 0),
    ];
    for name in &m.server_name_values {
        system_values.push(ValueSpec::sz(name, &state.server_name));
    }
    let mut subkeys = vec![
        params(StoreKind::Priv),
        params(StoreKind::Pub),
        key(&m.params_system, system_values, vec![]),
        key(
            "Diagnostics",
            vec![
                ValueSpec::dword("9000 Private General", 0),
                ValueSpec::dword("9001 Public General", 0),
            ],
            vec![],
        ),
    ];
    if state.restore_in_progress && current {
        subkeys.push(restore_in_progress_key(spec));
    }
    let service = m
        .store_service_key
        .last()
        .map_or("MSExchangeIS", String::as_str);
    let mut k = key(
        service,
        vec![
            ValueSpec::dword("Type", 0x10),
            ValueSpec::dword("Start", 3),
            ValueSpec::dword("ErrorControl", 1),
            expand_sz("ImagePath", r"C:\exchsrvr\bin\store.exe"),
            ValueSpec::sz("DisplayName", "Microsoft Exchange Information Store"),
            ValueSpec::sz("ObjectName", "LocalSystem"),
            ValueSpec::multi_sz("DependOnService", &["MSExchangeSA"]),
        ],
        subkeys,
    );
    sort_tree(&mut k);
    k
}

/// `Restore in Progress` as an unfinished online restore leaves it (peers.md §3.2).
fn restore_in_progress_key(spec: &ImageSpec) -> KeySpec {
    let m = &spec.profile.system;
    let unc = format!(
        r"\\{}\{}$\exchsrvr\MDBDATA",
        spec.target_server_name, spec.volumes.exchange
    );
    key(
        &m.restore_in_progress,
        vec![
            ValueSpec::dword("LowLog Number", 0x1a),
            ValueSpec::dword("HighLog Number", 0x1d),
            ValueSpec::multi_sz(
                "EDB_RstMap",
                &[&format!(r"{unc}\PRIV.EDB"), &format!(r"{unc}\PRIV.EDB")],
            ),
            ValueSpec::dword("EDB_RstMap Size", 1),
            ValueSpec::sz("LogPath", &unc),
            ValueSpec::sz("BackupLogPath", &format!(r"{unc}\restore")),
            ValueSpec::sz("CheckpointFilePath", &unc),
            ValueSpec::binary("EDB Database recovered", &[0]),
        ],
        vec![],
    )
}

/// A service key with the usual values.
fn service(name: &str, display: &str, image: &str, kind: u32, start: u32) -> KeySpec {
    let mut values = vec![
        ValueSpec::dword("Type", kind),
        ValueSpec::dword("Start", start),
        ValueSpec::dword("ErrorControl", 1),
    ];
    if !image.is_empty() {
        values.push(expand_sz("ImagePath", image));
    }
    if !display.is_empty() {
        values.push(ValueSpec::sz("DisplayName", display));
    }
    if kind >= 0x10 {
        values.push(ValueSpec::sz("ObjectName", "LocalSystem"));
    }
    key(
        name,
        values,
        vec![key("Enum", vec![ValueSpec::dword("Count", 1)], vec![])],
    )
}

/// NT4 services other than Exchange's, for a hive of real size and shape:
/// (name, display name, image path, type, start).
const SERVICES: &[(&str, &str, &str, u32, u32)] = &[
    ("Abiosdsk", "", "", 1, 4),
    (
        "Afd",
        "AFD Networking Support Environment",
        r"\SystemRoot\System32\drivers\afd.sys",
        1,
        1,
    ),
    (
        "Alerter",
        "Alerter",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        2,
    ),
    ("atapi", "", r"System32\DRIVERS\atapi.sys", 1, 0),
    (
        "Browser",
        "Computer Browser",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        2,
    ),
    ("Cdfs", "", "", 2, 4),
    ("Cdrom", "", "", 1, 1),
    (
        "ClipSrv",
        "ClipBook Server",
        r"%SystemRoot%\system32\clipsrv.exe",
        0x10,
        3,
    ),
    (
        "DHCP",
        "DHCP Client",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        4,
    ),
    ("Disk", "", "", 1, 0),
    (
        "EventLog",
        "EventLog",
        r"%SystemRoot%\system32\services.exe",
        0x20,
        2,
    ),
    ("Fastfat", "", "", 2, 4),
    ("i8042prt", "", "", 1, 1),
    (
        "LanmanServer",
        "Server",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        2,
    ),
    (
        "LanmanWorkstation",
        "Workstation",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        2,
    ),
    (
        "LmHosts",
        "TCP/IP NetBIOS Helper",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        2,
    ),
    (
        "Messenger",
        "Messenger",
        r"%SystemRoot%\System32\services.exe",
        0x20,
        2,
    ),
    ("Msfs", "", "", 2, 1),
    (
        "NetBT",
        "NetBios over Tcpip",
        r"System32\drivers\netbt.sys",
        1,
        1,
    ),
    (
        "NetDDE",
        "Network DDE",
        r"%SystemRoot%\system32\netdde.exe",
        0x10,
        3,
    ),
    (
        "Netlogon",
        "Net Logon",
        r"%SystemRoot%\System32\lsass.exe",
        0x20,
        3,
    ),
    ("Npfs", "", "", 2, 1),
    ("Ntfs", "", "", 2, 4),
    (
        "NtLmSsp",
        "NT LM Security Support Provider",
        r"%SystemRoot%\System32\SERVICES.EXE",
        0x20,
        3,
    ),
    ("Null", "", "", 1, 1),
    (
        "PlugPlay",
        "Plug and Play",
        r"%SystemRoot%\system32\services.exe",
        0x20,
        2,
    ),
    (
        "RPCLOCATOR",
        "Remote Procedure Call (RPC) Locator",
        r"%SystemRoot%\System32\LOCATOR.EXE",
        0x10,
        3,
    ),
    (
        "RpcSs",
        "Remote Procedure Call (RPC) Service",
        r"%SystemRoot%\system32\RpcSs.exe",
        0x10,
        2,
    ),
    (
        "Schedule",
        "Schedule",
        r"%SystemRoot%\System32\AtSvc.Exe",
        0x10,
        3,
    ),
    ("Serial", "", "", 1, 1),
    (
        "Spooler",
        "Spooler",
        r"%SystemRoot%\system32\spoolss.exe",
        0x10,
        2,
    ),
    (
        "Tcpip",
        "TCP/IP Service",
        r"System32\drivers\tcpip.sys",
        1,
        1,
    ),
    ("UPS", "UPS", r"%SystemRoot%\System32\ups.exe", 0x10, 3),
    (
        "W3SVC",
        "World Wide Web Publishing Service",
        r"C:\WINNT\System32\inetsrv\inetinfo.exe",
        0x20,
        2,
    ),
];

fn control_set(spec: &ImageSpec, state: &RegistryState, current: bool) -> KeySpec {
    let m = &spec.profile.system;
    let layout_cluster = spec.cluster.is_some();
    let mut services: Vec<KeySpec> = SERVICES
        .iter()
        .map(|(n, d, i, t, s)| service(n, d, i, *t, *s))
        .collect();
    services.push(service(
        "MSExchangeDS",
        "Microsoft Exchange Directory",
        r"C:\exchsrvr\bin\dsamain.exe",
        0x10,
        3,
    ));
    services.push(service(
        "MSExchangeMTA",
        "Microsoft Exchange Message Transfer Agent",
        r"C:\exchsrvr\bin\emsmta.exe",
        0x10,
        3,
    ));
    services.push(service(
        "MSExchangeSA",
        "Microsoft Exchange System Attendant",
        r"C:\exchsrvr\bin\mad.exe",
        0x10,
        3,
    ));
    if layout_cluster {
        services.push(service(
            "ClusSvc",
            "Cluster Server",
            r"%SystemRoot%\Cluster\clussvc.exe",
            0x10,
            2,
        ));
    }
    services.push(store_service_key(spec, state, current));

    // Control\ComputerName\ComputerName, from the profile's path.
    let mut computer = key(
        m.computer_name_key
            .last()
            .map_or("ComputerName", String::as_str),
        vec![ValueSpec::sz(&m.computer_name_value, &spec.computer_name)],
        vec![],
    );
    for part in m
        .computer_name_key
        .iter()
        .rev()
        .skip(1)
        .take_while(|p| *p != "Control")
    {
        computer = key(part, vec![], vec![computer]);
    }

    let control = key(
        "Control",
        vec![
            ValueSpec::sz("CurrentUser", "USERNAME"),
            ValueSpec::sz("SystemStartOptions", "NODEBUG"),
            ValueSpec::sz("WaitToKillServiceTimeout", "20000"),
        ],
        vec![
            computer,
            key(
                "ProductOptions",
                vec![ValueSpec::sz("ProductType", "ServerNT")],
                vec![],
            ),
            key(
                "Session Manager",
                vec![
                    ValueSpec::multi_sz("BootExecute", &["autocheck autochk *"]),
                    ValueSpec::dword("GlobalFlag", 0),
                ],
                vec![
                    key(
                        "Environment",
                        vec![
                            expand_sz("ComSpec", r"%SystemRoot%\system32\cmd.exe"),
                            ValueSpec::sz("NUMBER_OF_PROCESSORS", "2"),
                            ValueSpec::sz("OS", "Windows_NT"),
                            expand_sz(
                                "Path",
                                r"%SystemRoot%\system32;%SystemRoot%;C:\exchsrvr\bin",
                            ),
                            ValueSpec::sz("PROCESSOR_ARCHITECTURE", "x86"),
                        ],
                        vec![],
                    ),
                    key(
                        "Memory Management",
                        vec![
                            ValueSpec::dword("ClearPageFileAtShutdown", 0),
                            ValueSpec::dword("LargeSystemCache", 1),
                            ValueSpec::multi_sz("PagingFiles", &[r"C:\pagefile.sys 256 512"]),
                        ],
                        vec![],
                    ),
                ],
            ),
            key(
                "TimeZoneInformation",
                vec![
                    ValueSpec::dword("Bias", 0),
                    ValueSpec::sz("StandardName", "GMT Standard Time"),
                    ValueSpec::sz("DaylightName", "GMT Daylight Time"),
                ],
                vec![],
            ),
            key(
                "Windows",
                vec![
                    expand_sz("Directory", r"%SystemRoot%"),
                    ValueSpec::dword("CSDVersion", OS_VERSION.3 << 8),
                    ValueSpec::binary("ShutdownTime", &state.timestamp.to_le_bytes()),
                ],
                vec![],
            ),
        ],
    );
    let service_root_name = m
        .store_service_key
        .first()
        .map_or("Services", String::as_str);
    key(
        "",
        vec![],
        vec![control, key(service_root_name, vec![], services)],
    )
}

/// `SYSTEM` (or `SYSTEM.ALT`) for one registry state: `Select`, two control sets, `Setup`.
pub fn system_tree(spec: &ImageSpec, state: &RegistryState) -> KeySpec {
    let m = &spec.profile.system;
    let mut sets = Vec::new();
    for n in [CURRENT_CONTROL_SET, LAST_KNOWN_GOOD_CONTROL_SET] {
        let mut cs = control_set(spec, state, n == CURRENT_CONTROL_SET);
        cs.name = m.control_set_name(n);
        sets.push(cs);
    }
    let mut subkeys = vec![key(
        &m.select,
        vec![
            ValueSpec::dword(&m.select_current, CURRENT_CONTROL_SET),
            ValueSpec::dword(&m.select_default, CURRENT_CONTROL_SET),
            ValueSpec::dword("Failed", 0),
            ValueSpec::dword(&m.select_last_known_good, LAST_KNOWN_GOOD_CONTROL_SET),
        ],
        vec![],
    )];
    subkeys.extend(sets);
    subkeys.push(key(
        "Setup",
        vec![
            ValueSpec::dword("SetupType", 0),
            ValueSpec::dword("SystemSetupInProgress", 0),
            ValueSpec::sz("SystemPartition", r"\Device\Harddisk0\Partition1"),
        ],
        vec![],
    ));
    let mut root = key(PROTO_ROOT_NAME, vec![], subkeys);
    sort_tree(&mut root);
    root
}

/// `dirty-hive`: the tree `SYSTEM`'s primary file holds (the state before its last, unflushed
/// write) and the edits its `.LOG` holds; replaying the log gives [`system_tree`] exactly.
/// The pending write is the kind Windows makes at shutdown: the current control set's
/// `Control\Windows\ShutdownTime`.
pub fn dirty_system(spec: &ImageSpec) -> (KeySpec, Vec<HiveEdit>) {
    let m = &spec.profile.system;
    let logical = system_tree(spec, &spec.system);
    let path = vec![
        m.control_set_name(CURRENT_CONTROL_SET),
        "Control".to_string(),
        "Windows".to_string(),
    ];
    let mut base = logical.clone();
    let mut edits = Vec::new();
    if let Some(k) = find_mut(&mut base, &path) {
        if let Some(v) = k.values.iter_mut().find(|v| v.name == "ShutdownTime") {
            let final_value = v.clone();
            let earlier = spec.system.timestamp.saturating_sub(DIRTY_WRITE_GAP);
            v.data = earlier.to_le_bytes().to_vec();
            edits.push(HiveEdit::SetValue {
                key: path.clone(),
                value: final_value,
            });
        }
    }
    (base, edits)
}

/// How much older (100 ns units: 10 minutes) the primary file's state is than its log's.
pub const DIRTY_WRITE_GAP: u64 = 10 * 60 * 10_000_000;

/// Applies edits to a tree (what replaying a log does logically).
pub fn apply_edits(root: &KeySpec, edits: &[HiveEdit]) -> KeySpec {
    let mut t = root.clone();
    for e in edits {
        match e {
            HiveEdit::SetValue { key, value } => {
                if let Some(k) = find_mut(&mut t, key) {
                    match k
                        .values
                        .iter_mut()
                        .find(|v| v.name.eq_ignore_ascii_case(&value.name))
                    {
                        Some(v) => *v = value.clone(),
                        None => k.values.push(value.clone()),
                    }
                }
            }
        }
    }
    t
}

/// `SOFTWARE`: the OS version and the Exchange setup key, and a little else.
pub fn software_tree(spec: &ImageSpec) -> KeySpec {
    let m = &spec.profile.software;
    let nest = |path: &[String], leaf: KeySpec| -> KeySpec {
        // `leaf` is the last component of `path`; wrap it in the rest.
        path.iter()
            .rev()
            .skip(1)
            .fold(leaf, |inner, part| key(part, vec![], vec![inner]))
    };
    let last = |path: &[String]| path.last().cloned().unwrap_or_default();
    let current_version = key(
        &last(&m.current_version_key),
        vec![
            ValueSpec::sz(
                &m.current_version,
                &format!("{}.{}", OS_VERSION.0, OS_VERSION.1),
            ),
            ValueSpec::sz(&m.current_build_number, &OS_VERSION.2.to_string()),
            ValueSpec::sz(&m.csd_version, &format!("Service Pack {}", OS_VERSION.3)),
            ValueSpec::sz("CurrentType", "Uniprocessor Free"),
            ValueSpec::sz("RegisteredOrganization", super::spec::ORG_NAME),
            ValueSpec::sz("RegisteredOwner", "Administrator"),
            ValueSpec::sz("SystemRoot", r"C:\WINNT"),
            ValueSpec::sz("SoftwareType", "SYSTEM"),
        ],
        vec![key(
            "Winlogon",
            vec![
                ValueSpec::sz("DefaultDomainName", "CONTOSO"),
                ValueSpec::sz("Shell", "Explorer.exe"),
                ValueSpec::sz("Userinit", r"C:\WINNT\system32\userinit.exe,"),
            ],
            vec![],
        )],
    );
    let exchange_setup = key(
        &last(&m.exchange_setup_key),
        vec![
            ValueSpec::sz(&m.exchange_services, r"C:\exchsrvr"),
            ValueSpec::dword(&m.newest_build, EXCHANGE_BUILD),
            ValueSpec::sz("ServerName", &spec.target_server_name),
            ValueSpec::sz("SiteName", super::spec::SITE_NAME),
        ],
        vec![],
    );
    let mut microsoft = key(
        "Microsoft",
        vec![],
        vec![
            key(
                "Windows",
                vec![],
                vec![key(
                    "CurrentVersion",
                    vec![
                        ValueSpec::sz("ProgramFilesDir", r"C:\Program Files"),
                        ValueSpec::sz("CommonFilesDir", r"C:\Program Files\Common Files"),
                    ],
                    vec![],
                )],
            ),
            key(
                "Rpc",
                vec![],
                vec![key(
                    "ClientProtocols",
                    vec![ValueSpec::sz("ncacn_ip_tcp", "rpcltc3.dll")],
                    vec![],
                )],
            ),
        ],
    );
    // Merge the profile paths under `Microsoft`.
    for (path, leaf) in [
        (&m.current_version_key, current_version),
        (&m.exchange_setup_key, exchange_setup),
    ] {
        let nested = nest(path, leaf);
        if nested.name.eq_ignore_ascii_case("Microsoft") {
            microsoft.subkeys.extend(nested.subkeys);
        } else {
            microsoft.subkeys.push(nested);
        }
    }
    let mut root = key(
        PROTO_ROOT_NAME,
        vec![],
        vec![
            microsoft,
            key(
                "Classes",
                vec![],
                vec![key(".txt", vec![ValueSpec::sz("", "txtfile")], vec![])],
            ),
            key("Program Groups", vec![], vec![]),
        ],
    );
    sort_tree(&mut root);
    root
}

/// `CLUSDB`: the cluster hive (root = `HKLM\Cluster`).
pub fn clusdb_tree(spec: &ImageSpec, c: &ClusterSpec) -> KeySpec {
    let m = &spec.profile.cluster;
    let ids =
        |v: &[coldpatch::exchange::Guid]| v.iter().map(|g| g.to_cluster_id()).collect::<Vec<_>>();
    let multi = |name: &str, items: &[String]| {
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        ValueSpec::multi_sz(name, &refs)
    };
    let groups = c
        .groups
        .iter()
        .map(|g| {
            key(
                &g.id.to_cluster_id(),
                vec![
                    ValueSpec::sz(&m.name, &g.name),
                    multi(&m.contains, &ids(&g.contains)),
                    ValueSpec::dword(&m.persistent_state, 1),
                ],
                vec![],
            )
        })
        .collect();
    let resources = c
        .resources
        .iter()
        .map(|r| {
            let mut sub = vec![key(&m.parameters, r.parameters.clone(), vec![])];
            if !r.regsync.is_empty() {
                sub.push(key(
                    &m.regsync,
                    r.regsync.iter().map(|(n, p)| ValueSpec::sz(n, p)).collect(),
                    vec![],
                ));
            }
            key(
                &r.id.to_cluster_id(),
                vec![
                    ValueSpec::sz(&m.name, &r.name),
                    ValueSpec::sz(&m.type_, &r.type_),
                    ValueSpec::dword(&m.persistent_state, 1),
                    multi(&m.depends_on, &ids(&r.depends_on)),
                    ValueSpec::dword("RestartAction", 2),
                ],
                sub,
            )
        })
        .collect();
    let nodes = c
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            key(
                &(i + 1).to_string(),
                vec![ValueSpec::sz(&m.node_name, n)],
                vec![],
            )
        })
        .collect();
    let resource_types = [
        ("Generic Service", "clusres.dll"),
        ("IP Address", "clusres.dll"),
        ("Microsoft Exchange Information Store", "exres.dll"),
        ("Network Name", "clusres.dll"),
        ("Physical Disk", "clusres.dll"),
    ]
    .iter()
    .map(|(n, dll)| {
        key(
            n,
            vec![ValueSpec::sz("Name", n), ValueSpec::sz("DllName", dll)],
            vec![],
        )
    })
    .collect();
    let mut root = key(
        "Cluster",
        vec![ValueSpec::sz(&m.cluster_name, &c.name)],
        vec![
            key(&m.groups, vec![], groups),
            key(&m.resources, vec![], resources),
            key("ResourceTypes", vec![], resource_types),
            key(&m.nodes, vec![], nodes),
            key(
                &m.quorum,
                vec![
                    ValueSpec::sz(&m.quorum_path, &c.quorum_path),
                    ValueSpec::sz(&m.quorum_resource, &c.quorum_resource.to_cluster_id()),
                ],
                vec![],
            ),
        ],
    );
    sort_tree(&mut root);
    root
}

/// The checkpoint hive of the `MSExchangeIS` key: its root is the key itself.
pub fn checkpoint_tree(spec: &ImageSpec, state: &RegistryState) -> KeySpec {
    store_service_key(spec, state, false)
}
