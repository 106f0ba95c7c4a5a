//! Discovery: from the image's volumes to everything the patch needs to know — the hives and
//! what they say, the cluster and its checkpoints, the store databases with their headers,
//! layouts and `Globals` rows — and every condition that refuses the patch (`problems`),
//! found before anything is written.

use crate::cluster::{read_cluster, ClusterInfo, ExchangeCluster};
use crate::ese::btree::Database;
use crate::ese::catalog::Catalog;
use crate::ese::header::{DbHeader, DbState, HeaderCopies};
use crate::exchange::names::validate_server_name;
use crate::exchange::registry::{HiveView, SoftwareInfo, StoreService, SystemInfo};
use crate::exchange::store::{count_by_guid, read_globals, GlobalsRow, GuidCounts, StoreLayout};
use crate::exchange::{Profile, StoreKind};
use crate::image::{Image, MappedFile, Resolved};
use std::collections::BTreeMap;

/// A hive file of the image, mapped, with its state.
pub struct HiveFile {
    pub resolved: Resolved,
    pub map: MappedFile,
}

impl HiveFile {
    /// The path relative to the image, `/`-separated, as manifests show it.
    pub fn rel(&self) -> String {
        rel_path(&self.resolved)
    }
}

/// `C/WINNT/system32/config/SYSTEM`: the drive letter, then the path inside the volume.
pub fn rel_path(r: &Resolved) -> String {
    let mut s = r.drive.to_string();
    for part in r.relative.components() {
        s.push('/');
        s.push_str(&part.as_os_str().to_string_lossy());
    }
    s
}

/// One checkpoint of the cluster's store resource.
pub struct CheckpointFound {
    /// The `RegSync` value name (`00000001`).
    pub regsync: String,
    /// The checkpointed key path (relative to `HKLM`).
    pub key_path: String,
    pub windows_path: String,
    /// The checkpoint holds the store service key (`...\Services\MSExchangeIS`).
    pub is_store_key: bool,
    pub file: Option<HiveFile>,
    pub service: Option<StoreService>,
}

/// The cluster, when the image has one.
pub struct ClusterFound {
    pub clusdb: HiveFile,
    pub info: ClusterInfo,
    pub exchange: Option<ExchangeCluster>,
    pub checkpoints: Vec<CheckpointFound>,
}

/// One store database.
pub struct StoreFile {
    pub kind: StoreKind,
    pub windows_path: String,
    pub resolved: Resolved,
    pub map: MappedFile,
    pub header: DbHeader,
    pub layout: Option<StoreLayout>,
    pub globals: Option<GlobalsRow>,
    /// Table → rows per GUID (the GUID tables of the layout).
    pub counts: BTreeMap<String, GuidCounts>,
    /// Every table of the catalog → rows.
    pub rows: BTreeMap<String, u64>,
    /// The census of the old base GUID (when discovery ran it).
    pub census: Option<crate::ese::census::CensusReport>,
    /// Columns outside the profile holding the old base GUID (from the census).
    pub uncovered: Vec<crate::patch::census::Uncovered>,
}

impl StoreFile {
    pub fn rel(&self) -> String {
        rel_path(&self.resolved)
    }
}

/// Where the target server name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameSource {
    Flag,
    VirtualServer,
    ComputerName,
}

impl NameSource {
    pub fn describe(self) -> &'static str {
        match self {
            NameSource::Flag => "--server-name",
            NameSource::VirtualServer => "cluster virtual server",
            NameSource::ComputerName => "computer name",
        }
    }
}

/// Everything found.
pub struct Installation {
    pub image: Image,
    pub system: HiveFile,
    pub system_info: Option<SystemInfo>,
    pub system_alt: Option<(HiveFile, Option<SystemInfo>)>,
    pub software: Option<(HiveFile, SoftwareInfo)>,
    pub cluster: Option<ClusterFound>,
    pub computer_name: Option<String>,
    pub target: Option<(String, NameSource)>,
    pub stores: Vec<StoreFile>,
    /// Refusals: each says what, where and what to do.
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// What discovery is asked to do.
#[derive(Clone, Debug, Default)]
pub struct DiscoverOptions {
    pub server_name: Option<String>,
    /// Verify every page of each database (inspect, plan); `apply` verifies pages in its
    /// own pass instead.
    pub verify_pages: bool,
    /// Count rows per GUID (inspect, plan); `apply` counts in its pass.
    pub count_rows: bool,
    /// A missing checkpoint is a warning, not a refusal.
    pub skip_checkpoint: bool,
    /// Run the census of each database (inspect, plan); `apply` takes it in its own pass.
    pub census: bool,
    /// `--allow-uncovered TABLE.COLUMN`: an uncovered place that is a warning, not a refusal.
    pub allow_uncovered: Vec<String>,
}

/// A discovery that could not even start (no system volume, unreadable hive).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DiscoverError(pub String);

fn open_hive(image: &Image, windows: &str, named_by: &str) -> Result<Option<HiveFile>, String> {
    let Some(resolved) = image
        .resolve_optional(windows, named_by)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let map = MappedFile::open(&resolved.host).map_err(|e| e.to_string())?;
    Ok(Some(HiveFile { resolved, map }))
}

/// Checks a hive as the editor will: dirty or flagged hives are problems.
fn check_hive(h: &HiveFile, problems: &mut Vec<String>) {
    let r = crate::regf::verify(h.map.bytes());
    if r.dirty {
        problems.push(format!(
            "{}: the hive is dirty (sequence numbers {} and {} differ): it was not written to the \
             end; replay its transaction log into a new hive first (coldpatch reg import HIVE \
             EMPTY.reg --replay-log --out NEW) and put that in the image",
            h.resolved.host.display(),
            r.sequence1,
            r.sequence2
        ));
    }
    damage_problem(h, &r, problems);
}

/// Checks a hive that is only read (SOFTWARE, the cluster hive): one that does not verify is
/// a problem (a dirty one is read as its primary file, as `reg export` does).
fn check_hive_damage(h: &HiveFile, problems: &mut Vec<String>) {
    damage_problem(h, &crate::regf::verify(h.map.bytes()), problems);
}

fn damage_problem(h: &HiveFile, r: &crate::regf::verify::VerifyReport, problems: &mut Vec<String>) {
    if let Some(first) = r.errors.first() {
        problems.push(format!(
            "{}: the hive does not verify ({}); first at offset {:#x}: {}; run \
             coldpatch verify on it",
            h.resolved.host.display(),
            crate::text::count(r.errors.len() as u64, "problem", "problems"),
            first.offset,
            first.what
        ));
    }
}

impl Installation {
    pub fn discover(
        image: Image,
        profile: &Profile,
        opts: &DiscoverOptions,
    ) -> Result<Installation, DiscoverError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let root = image
            .system_root()
            .map_err(|e| DiscoverError(e.to_string()))?;
        let config = format!("{}:\\{}\\system32\\config", root.drive, root.name);
        let system = open_hive(&image, &format!("{config}\\SYSTEM"), "the system volume")
            .map_err(DiscoverError)?
            .ok_or_else(|| DiscoverError(format!("{config}\\SYSTEM: not found")))?;
        check_hive(&system, &mut problems);
        let read_system = |h: &HiveFile, problems: &mut Vec<String>| -> Option<SystemInfo> {
            let view = match HiveView::new(h.rel(), h.map.bytes()) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(e.to_string());
                    return None;
                }
            };
            match SystemInfo::read(&view, &profile.system) {
                Ok(info) => Some(info),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            }
        };
        let system_info = read_system(&system, &mut problems);
        let system_alt =
            match open_hive(&image, &format!("{config}\\SYSTEM.ALT"), "SYSTEM's mirror") {
                Ok(Some(h)) => {
                    check_hive(&h, &mut problems);
                    let info = read_system(&h, &mut problems);
                    Some((h, info))
                }
                Ok(None) => None,
                Err(e) => {
                    problems.push(e);
                    None
                }
            };
        let software = match open_hive(&image, &format!("{config}\\SOFTWARE"), "the system volume")
        {
            Ok(Some(h)) => {
                // Only read, but a hive that does not verify is refused all the same: nothing
                // is written from an image one of whose hives is damaged.
                check_hive_damage(&h, &mut problems);
                let info = HiveView::new(h.rel(), h.map.bytes())
                    .and_then(|v| SoftwareInfo::read(&v, &profile.software));
                match info {
                    Ok(info) => Some((h, info)),
                    Err(e) => {
                        warnings.push(format!("SOFTWARE not read: {e}"));
                        None
                    }
                }
            }
            Ok(None) => None,
            Err(e) => {
                warnings.push(format!("SOFTWARE not read: {e}"));
                None
            }
        };

        let current = system_info
            .as_ref()
            .and_then(|s| s.current(&profile.system));
        let computer_name = current.and_then(|c| c.computer_name.clone());
        if current.and_then(|c| c.store_service.as_ref()).is_none() {
            problems.push(format!(
                "{}: no control set named by Select has {} (is Exchange installed on this \
                 system volume?)",
                system.rel(),
                profile.system.store_service_key.join("\\")
            ));
        }

        let cluster = discover_cluster(&image, &root, profile, opts, &mut problems, &mut warnings);

        let target = match (&opts.server_name, &cluster, &computer_name) {
            (Some(n), _, _) => Some((n.clone(), NameSource::Flag)),
            (
                None,
                Some(ClusterFound {
                    exchange: Some(x), ..
                }),
                _,
            ) => Some((x.virtual_server.clone(), NameSource::VirtualServer)),
            (None, _, Some(c)) => Some((c.clone(), NameSource::ComputerName)),
            _ => None,
        };
        match &target {
            Some((n, src)) => {
                if let Err(e) = validate_server_name(n) {
                    problems.push(format!(
                        "the target server name (from {}) is not valid: {e}; give a NetBIOS \
                         name with --server-name",
                        src.describe()
                    ));
                }
            }
            None => problems.push(
                "no target server name: no cluster virtual server and no ComputerName; give \
                 one with --server-name"
                    .into(),
            ),
        }

        let mut inst_places = Vec::new();
        {
            let mut seen = |h: &HiveFile, info: &Option<SystemInfo>| {
                for svc in info
                    .iter()
                    .flat_map(|i| &i.control_sets)
                    .filter_map(|c| c.store_service.as_ref())
                {
                    inst_places.push((h.rel(), svc.key.clone(), svc.restore_in_progress));
                }
            };
            seen(&system, &system_info);
            if let Some((h, info)) = &system_alt {
                seen(h, info);
            }
        }
        for cp in cluster.iter().flat_map(|c| &c.checkpoints) {
            if let (Some(f), Some(svc)) = (&cp.file, &cp.service) {
                inst_places.push((f.rel(), svc.key.clone(), svc.restore_in_progress));
            }
        }
        for (file, key, restoring) in inst_places {
            if restoring {
                let key = if key.is_empty() {
                    profile.system.restore_in_progress.clone()
                } else {
                    format!("{key}\\{}", profile.system.restore_in_progress)
                };
                problems.push(format!(
                    "{file}: {key} exists: an online restore did not finish; finish or cancel it \
                     on the server (or restore again) before patching"
                ));
            }
        }

        let mut stores = Vec::new();
        if let Some(svc) = current.and_then(|c| c.store_service.as_ref()) {
            for kind in StoreKind::ALL {
                let Some(path) = svc.db_paths.get(&kind) else {
                    problems.push(format!(
                        "{}: {}\\{}\\{} is missing",
                        system.rel(),
                        svc.key,
                        profile.system.store_params(kind),
                        profile.system.db_path
                    ));
                    continue;
                };
                let named_by = format!(
                    "{} {}\\{}\\{}",
                    system.rel(),
                    svc.key,
                    profile.system.store_params(kind),
                    profile.system.db_path
                );
                match open_store(&image, kind, path, &named_by, profile, opts, &mut problems) {
                    Ok(Some(s)) => stores.push(s),
                    Ok(None) => {}
                    Err(e) => problems.push(e),
                }
            }
        }
        for s in &stores {
            let (p, w) = crate::patch::census::judge(&s.rel(), &s.uncovered, &opts.allow_uncovered);
            problems.extend(p);
            warnings.extend(w);
        }
        if let Some((sw, info)) = &software {
            for s in &stores {
                if let Some(w) = index_os_warning(info, &s.header) {
                    warnings.push(format!("{}: {w} (SOFTWARE: {})", s.rel(), sw.rel()));
                }
            }
        }
        Ok(Installation {
            image,
            system,
            system_info,
            system_alt,
            software,
            cluster,
            computer_name,
            target,
            stores,
            problems,
            warnings,
        })
    }

    /// Every store service key the edits touch: (hive, key path inside it, what it holds).
    pub fn registry_places(&self) -> Vec<(&HiveFile, &StoreService)> {
        let mut out = Vec::new();
        fn sets(info: &Option<SystemInfo>) -> Vec<&StoreService> {
            info.iter()
                .flat_map(|i| &i.control_sets)
                .filter_map(|c| c.store_service.as_ref())
                .collect()
        }
        for svc in sets(&self.system_info) {
            out.push((&self.system, svc));
        }
        if let Some((h, info)) = &self.system_alt {
            for svc in sets(info) {
                out.push((h, svc));
            }
        }
        for cp in self.cluster.iter().flat_map(|c| &c.checkpoints) {
            if let (Some(f), Some(svc)) = (&cp.file, &cp.service) {
                out.push((f, svc));
            }
        }
        out
    }
}

fn discover_cluster(
    image: &Image,
    root: &crate::image::SystemRoot,
    profile: &Profile,
    opts: &DiscoverOptions,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<ClusterFound> {
    let clusdb_path = format!("{}:\\{}\\Cluster\\CLUSDB", root.drive, root.name);
    let clusdb = match open_hive(image, &clusdb_path, "the system volume") {
        Ok(Some(h)) => h,
        Ok(None) => return None,
        Err(e) => {
            problems.push(e);
            return None;
        }
    };
    check_hive_damage(&clusdb, problems);
    let info = match read_cluster(clusdb.map.bytes(), &profile.cluster) {
        Ok(i) => i,
        Err(e) => {
            problems.push(format!("{}: {e}", clusdb.rel()));
            return None;
        }
    };
    let exchange = match info.exchange(&profile.cluster) {
        Ok(x) => x,
        Err(e) => {
            problems.push(format!("{}: {e}", clusdb.rel()));
            None
        }
    };
    let mut checkpoints = Vec::new();
    for cp in exchange.iter().flat_map(|x| &x.checkpoints) {
        let is_store_key = crate::cluster::names_store_key(&cp.key_path, &profile.system);
        let named_by = format!(
            "{} Quorum\\Path + resource id + RegSync {}",
            clusdb.rel(),
            cp.regsync
        );
        let file = match open_hive(image, &cp.windows_path, &named_by) {
            Ok(f) => f,
            Err(e) => {
                let msg = format!("the checkpoint of {} cannot be read: {e}", cp.key_path);
                if is_store_key && opts.skip_checkpoint {
                    warnings.push(format!(
                        "{msg}. --skip-checkpoint: THE CLUSTER WILL OVERWRITE THE PATCHED \
                         REGISTRY VALUES with the old checkpoint when the store resource comes \
                         online"
                    ));
                } else if is_store_key {
                    problems.push(format!(
                        "{msg}; map the quorum disk with --volume (or --skip-checkpoint, and \
                         the cluster will undo the patch)"
                    ));
                }
                None
            }
        };
        let mut service = None;
        match &file {
            Some(f) if is_store_key => {
                check_hive(f, problems);
                match HiveView::new(f.rel(), f.map.bytes())
                    .and_then(|v| StoreService::read(&v, "", &profile.system))
                {
                    Ok(s) => service = s,
                    Err(e) => problems.push(e.to_string()),
                }
            }
            None if is_store_key => {
                let msg =
                    format!(
                    "the cluster checkpoints {} (RegSync {} of resource {}), but its checkpoint \
                     file {} is not in the image (quorum path {}); map the quorum disk with \
                     --volume {}:=PATH",
                    cp.key_path,
                    cp.regsync,
                    exchange.as_ref().map_or("", |x| x.store_resource_id.as_str()),
                    cp.windows_path,
                    info.quorum_path.as_deref().unwrap_or("?"),
                    cp.windows_path.chars().next().unwrap_or('Q')
                );
                if opts.skip_checkpoint {
                    warnings.push(format!(
                        "{msg}. --skip-checkpoint: THE CLUSTER WILL OVERWRITE THE PATCHED \
                         REGISTRY VALUES with the old checkpoint when the store resource comes \
                         online"
                    ));
                } else {
                    problems.push(format!(
                        "{msg}; or give --skip-checkpoint to patch without it (the cluster will \
                         then undo the registry edits)"
                    ));
                }
            }
            _ => {}
        }
        checkpoints.push(CheckpointFound {
            regsync: cp.regsync.clone(),
            key_path: cp.key_path.clone(),
            windows_path: cp.windows_path.clone(),
            is_store_key,
            file,
            service,
        });
    }
    Some(ClusterFound {
        clusdb,
        info,
        exchange,
        checkpoints,
    })
}

fn open_store(
    image: &Image,
    kind: StoreKind,
    windows: &str,
    named_by: &str,
    profile: &Profile,
    opts: &DiscoverOptions,
    problems: &mut Vec<String>,
) -> Result<Option<StoreFile>, String> {
    let resolved = image
        .resolve(windows, named_by)
        .map_err(|e| e.to_string())?;
    let map = MappedFile::open(&resolved.host).map_err(|e| e.to_string())?;
    let at = resolved.host.display().to_string();
    let copies = HeaderCopies::read(map.bytes()).map_err(|e| format!("{at}: {e}"))?;
    let header = copies.header.clone();
    if header.state != DbState::CLEAN_SHUTDOWN {
        problems.push(format!(
            "{at}: database state is {} ({}), not clean shutdown: recover it with its logs \
             (eseutil /r) or repair it on Windows first",
            header.state.name(),
            header.state.0
        ));
    }
    if !copies.primary_checksum.is_good() || copies.primary_error.is_some() {
        problems.push(format!("{at}: header checksum at offset 0x0 is bad"));
    }
    if copies.shadow_checksum.map_or(true, |c| !c.is_good()) {
        problems.push(format!(
            "{at}: shadow header checksum at offset {:#x} is bad",
            header.page_size
        ));
    }
    if let Some(d) = copies.first_difference {
        problems.push(format!(
            "{at}: the header and its shadow copy differ first at offset {:#x}",
            u64::from(header.page_size) + d as u64
        ));
    }
    if opts.verify_pages {
        let release = map.releasing(u64::from(header.page_size));
        let release_reads = map.releasing_reads();
        let report = crate::ese::verify::verify_file_observed(
            map.bytes(),
            2,
            &|_| {},
            &release,
            &release_reads,
        )
        .map_err(|e| format!("{at}: {e}"))?;
        map.release();
        for f in report.findings.iter().take(5) {
            let page = f.page.map(|p| format!("page {p}, ")).unwrap_or_default();
            problems.push(format!(
                "{at}: {page}offset {:#x}: {}; nothing is patched over damage",
                f.offset, f.problem
            ));
        }
        if report.findings.len() > 5 {
            problems.push(format!("{at}: {} more problems", report.findings.len() - 5));
        }
    }
    // Without `verify_pages` (`apply`), the pass checks every page it reads and the structure
    // as verify does (`ese::verify::LeafCheck`), and writes nothing from a database that
    // verify flags.

    // Row counts and the census read every page: the map is released as they go.
    let release = map.releasing_reads();
    let db = Database::open(map.bytes())
        .map_err(|e| format!("{at}: {e}"))?
        .observed(&release);
    let catalog = Catalog::read(&db).map_err(|e| format!("{at}: cannot read the catalog: {e}"))?;
    let mut rows = BTreeMap::new();
    if opts.count_rows {
        for t in &catalog.tables {
            let n = crate::ese::catalog::count_rows(&db, t)
                .map_err(|e| format!("{at}: table {}: {e}", t.name))?;
            rows.insert(t.name.clone(), n);
        }
    }
    let layout = match StoreLayout::resolve(&catalog, kind, profile) {
        Ok(l) => Some(l),
        Err(ps) => {
            for p in ps {
                problems.push(format!("{at}: {p}"));
            }
            None
        }
    };
    let mut globals = None;
    let mut counts = BTreeMap::new();
    if let Some(l) = &layout {
        match read_globals(&db, &catalog, &l.globals).map_err(|e| format!("{at}: {e}"))? {
            Ok(g) => globals = Some(g),
            Err(p) => problems.push(format!("{at}: {p}")),
        }
        if opts.count_rows {
            for t in &l.guid_tables {
                let c = count_by_guid(&db, &catalog, t)
                    .map_err(|e| format!("{at}: table {}: {e}", t.table))?;
                counts.insert(t.table.clone(), c);
            }
        }
    }
    let mut census = None;
    let mut uncovered = Vec::new();
    if let (true, Some(l), Some(g)) = (opts.census, &layout, &globals) {
        let needles = crate::patch::census::needles(&g.base_guid, None);
        let matcher = crate::ese::census::Matcher::new(&needles);
        let report = crate::ese::census::census(&db, &catalog, &matcher, &map.releasing_total())
            .map_err(|e| format!("{at}: census: {e}"))?;
        map.release();
        uncovered = crate::patch::census::uncovered(&report, l);
        census = Some(report);
    }
    drop(db);
    drop(release);
    map.release();
    Ok(Some(StoreFile {
        kind,
        windows_path: resolved.windows.clone(),
        resolved,
        map,
        header,
        layout,
        globals,
        counts,
        rows,
        census,
        uncovered,
    }))
}

/// KB Q224977: the store rebuilds its indexes on first start when the OS version or service
/// pack differs from the one recorded in the database header; with a renamed computer that
/// fails.
pub fn index_os_warning(sw: &SoftwareInfo, h: &DbHeader) -> Option<String> {
    let os = &h.os_version;
    if os.major == 0 && os.minor == 0 && os.build == 0 {
        return None;
    }
    let (maj, min) = sw
        .current_version
        .as_deref()
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)))?;
    let build = sw
        .current_build_number
        .as_deref()
        .and_then(|b| b.trim().parse::<u32>().ok());
    let sp = sw
        .csd_version
        .as_deref()
        .and_then(|s| s.split_whitespace().last()?.parse::<u32>().ok())
        .unwrap_or(0);
    let differs = (maj, min) != (os.major, os.minor)
        || build.is_some_and(|b| b != os.build)
        || sp != os.service_pack;
    differs.then(|| {
        format!(
            "the store's indexes were built under Windows {}.{} build {} SP{}, this system is {}.{} \
             build {} SP{}: the store will rebuild its indexes on first start, which fails on a \
             renamed computer (KB Q224977)",
            os.major,
            os.minor,
            os.build,
            os.service_pack,
            maj,
            min,
            build.map_or("?".into(), |b| b.to_string()),
            sp
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ese::header::OsVersion;

    fn header_with(os: OsVersion) -> DbHeader {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/cluster-small/E/exchsrvr/MDBDATA/PRIV.EDB"
        );
        let bytes = std::fs::read(path).unwrap();
        let mut h = HeaderCopies::read(&bytes).unwrap().header;
        h.os_version = os;
        h
    }

    /// KB Q224977: a store whose indexes were built under another OS version or service pack.
    #[test]
    fn os_version_or_service_pack_change_is_warned() {
        let sw = SoftwareInfo {
            current_version: Some("4.0".into()),
            current_build_number: Some("1381".into()),
            csd_version: Some("Service Pack 6".into()),
            ..SoftwareInfo::default()
        };
        let same = OsVersion {
            major: 4,
            minor: 0,
            build: 1381,
            service_pack: 6,
        };
        assert_eq!(index_os_warning(&sw, &header_with(same)), None);
        let sp5 = OsVersion {
            service_pack: 5,
            ..same
        };
        let w = index_os_warning(&sw, &header_with(sp5)).unwrap();
        assert!(
            w.contains("Q224977") && w.contains("SP5") && w.contains("SP6"),
            "{w}"
        );
    }
}
