//! `inspect IMAGE`: everything discovery found, whether a patch is needed and why, and every
//! condition that would refuse it — as data (`--json`, product.md "JSON") and as a short
//! report for people.

use crate::exchange::profile::Profile;
use crate::exchange::registry::SoftwareInfo;
use crate::patch::discover::Installation;
use crate::patch::plan::{reasons, stale_mirror};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Serialize)]
pub struct CheckpointReport {
    pub key: String,
    pub file: String,
    pub found: bool,
}

#[derive(Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub virtual_server: Option<String>,
    pub exchange_group: Option<String>,
    pub store_resource: Option<String>,
    pub quorum_path: Option<String>,
    pub checkpoints: Vec<CheckpointReport>,
}

#[derive(Serialize)]
pub struct FormatReport {
    pub version: String,
    pub revision: u32,
    pub page_size: u32,
}

#[derive(Serialize)]
pub struct StoreInspect {
    pub name: String,
    pub path: String,
    pub host_path: String,
    pub base_guid: Option<String>,
    pub server_name: Option<String>,
    pub patch_state: Option<i32>,
    pub patch_count: Option<i32>,
    pub db_state: String,
    pub dbtime: u64,
    pub format: FormatReport,
    pub os_version: String,
    /// Table → rows; null when the pages were not read (`inspect --quick`).
    pub rows: Option<BTreeMap<String, u64>>,
    /// Table → rows carrying this store's own base GUID; null as `rows`.
    pub own_rows: Option<BTreeMap<String, u64>>,
    /// Where the old base GUID lives: every column of every table, and raw bytes elsewhere.
    pub census: Option<crate::ese::census::CensusReport>,
    /// Columns outside the store model holding it (a refusal unless `--allow-uncovered`).
    pub uncovered: Vec<crate::patch::census::Uncovered>,
    /// Raw occurrences (not column values), in words.
    pub census_notes: Vec<String>,
}

#[derive(Serialize)]
pub struct RegistryPlace {
    pub file: String,
    pub key: String,
    pub base_guids: BTreeMap<String, String>,
    pub server_names: BTreeMap<String, String>,
    pub restore_in_progress: bool,
}

#[derive(Serialize)]
pub struct RegistryReport {
    /// The current control set's values.
    pub base_guid: BTreeMap<String, String>,
    pub server_names: BTreeMap<String, String>,
    /// Every place the edits touch.
    pub places: Vec<RegistryPlace>,
}

#[derive(Serialize)]
pub struct InspectImage {
    pub volumes: BTreeMap<String, String>,
    pub computer_name: Option<String>,
    pub target_server_name: Option<String>,
    pub target_server_name_source: Option<String>,
    pub software: Option<SoftwareInfo>,
    pub cluster: Option<ClusterReport>,
    pub stores: Vec<StoreInspect>,
    pub registry: RegistryReport,
    /// Whether every page of each database was read: checked, rows counted, the census taken
    /// (false with `--quick`: `problems` then holds what the hives, the headers, the catalogs
    /// and `Globals` show, and pages may still hold a refusal that plan and apply find).
    pub pages_read: bool,
    pub patch_needed: bool,
    pub reasons: Vec<String>,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl InspectImage {
    /// The report of a discovery; `pages_read` says whether it read every page (rows, census
    /// and page checks) or only the headers, catalogs and `Globals`.
    pub fn build(inst: &Installation, profile: &Profile, pages_read: bool) -> InspectImage {
        let cluster = inst.cluster.as_ref().map(|c| ClusterReport {
            name: c.info.name.clone(),
            virtual_server: c.exchange.as_ref().map(|x| x.virtual_server.clone()),
            exchange_group: c.exchange.as_ref().map(|x| x.group_name.clone()),
            store_resource: c.exchange.as_ref().map(|x| x.store_resource_name.clone()),
            quorum_path: c.info.quorum_path.clone(),
            checkpoints: c
                .checkpoints
                .iter()
                .map(|cp| CheckpointReport {
                    key: cp.key_path.clone(),
                    file: cp.windows_path.clone(),
                    found: cp.file.is_some(),
                })
                .collect(),
        });
        let stores = inst
            .stores
            .iter()
            .map(|s| {
                let h = &s.header;
                let mut own_rows = BTreeMap::new();
                if let Some(g) = &s.globals {
                    for (t, c) in &s.counts {
                        own_rows
                            .insert(t.clone(), c.by_guid.get(&g.base_guid).copied().unwrap_or(0));
                    }
                }
                StoreInspect {
                    name: s.kind.name().into(),
                    path: s.windows_path.clone(),
                    host_path: s.resolved.host.display().to_string(),
                    base_guid: s.globals.as_ref().map(|g| g.base_guid.to_string()),
                    server_name: s.globals.as_ref().and_then(|g| g.server_name.clone()),
                    patch_state: s.globals.as_ref().and_then(|g| g.patch_state),
                    patch_count: s.globals.as_ref().and_then(|g| g.patch_count),
                    db_state: h.state.key(),
                    dbtime: h.dbtime,
                    format: FormatReport {
                        version: format!("{:#x}", h.version),
                        revision: h.revision,
                        page_size: h.page_size,
                    },
                    os_version: format!(
                        "{}.{} build {} SP{}",
                        h.os_version.major,
                        h.os_version.minor,
                        h.os_version.build,
                        h.os_version.service_pack
                    ),
                    rows: pages_read.then(|| s.rows.clone()),
                    own_rows: pages_read.then_some(own_rows),
                    census: s.census.clone(),
                    uncovered: s.uncovered.clone(),
                    census_notes: s
                        .census
                        .as_ref()
                        .map(|c| crate::patch::census::raw_notes(&s.rel(), c))
                        .unwrap_or_default(),
                }
            })
            .collect();
        let places: Vec<RegistryPlace> = inst
            .registry_places()
            .into_iter()
            .map(|(h, svc)| RegistryPlace {
                file: h.rel(),
                key: svc.key.clone(),
                base_guids: svc
                    .base_guids
                    .iter()
                    .map(|(k, g)| (k.name().to_string(), g.to_string()))
                    .collect(),
                server_names: svc.server_names.clone(),
                restore_in_progress: svc.restore_in_progress,
            })
            .collect();
        let current = inst
            .system_info
            .as_ref()
            .and_then(|s| s.current(&profile.system))
            .and_then(|c| c.store_service.as_ref());
        let registry = RegistryReport {
            base_guid: current
                .map(|s| {
                    s.base_guids
                        .iter()
                        .map(|(k, g)| (k.name().to_string(), g.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            server_names: current.map(|s| s.server_names.clone()).unwrap_or_default(),
            places,
        };
        let reasons = if inst.problems.is_empty() {
            reasons(inst, profile)
        } else {
            Vec::new()
        };
        let mut warnings = inst.warnings.clone();
        warnings.extend(stale_mirror(inst));
        InspectImage {
            volumes: inst
                .image
                .volumes()
                .map(|(l, p)| (l.to_string(), p.display().to_string()))
                .collect(),
            computer_name: inst.computer_name.clone(),
            target_server_name: inst.target.as_ref().map(|t| t.0.clone()),
            target_server_name_source: inst.target.as_ref().map(|t| t.1.describe().to_string()),
            software: inst.software.as_ref().map(|(_, s)| s.clone()),
            cluster,
            stores,
            registry,
            pages_read,
            patch_needed: !reasons.is_empty(),
            reasons,
            problems: inst.problems.clone(),
            warnings,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let vols: Vec<String> = self
            .volumes
            .iter()
            .map(|(l, p)| format!("{l}: = {p}"))
            .collect();
        let _ = writeln!(o, "Volumes: {}", vols.join(", "));
        let _ = writeln!(
            o,
            "Computer name: {}",
            self.computer_name.as_deref().unwrap_or("(none)")
        );
        if let Some(sw) = &self.software {
            let _ = writeln!(
                o,
                "Windows: {} build {} {}; Exchange build {}",
                sw.current_version.as_deref().unwrap_or("?"),
                sw.current_build_number.as_deref().unwrap_or("?"),
                sw.csd_version.as_deref().unwrap_or(""),
                sw.exchange_newest_build
                    .map_or("?".to_string(), |b| b.to_string())
            );
        }
        match &self.cluster {
            Some(c) => {
                let _ = writeln!(
                    o,
                    "Cluster: {}; Exchange group {}; virtual server {}; store resource {}",
                    c.name,
                    c.exchange_group.as_deref().unwrap_or("(none)"),
                    c.virtual_server.as_deref().unwrap_or("(none)"),
                    c.store_resource.as_deref().unwrap_or("(none)")
                );
                for cp in &c.checkpoints {
                    let _ = writeln!(
                        o,
                        "  checkpoint of {}: {} ({})",
                        cp.key,
                        cp.file,
                        if cp.found { "found" } else { "MISSING" }
                    );
                }
            }
            None => {
                let _ = writeln!(o, "Cluster: none (standalone server)");
            }
        }
        let _ = writeln!(
            o,
            "Target server name: {} (from {})",
            self.target_server_name.as_deref().unwrap_or("(none)"),
            self.target_server_name_source.as_deref().unwrap_or("-")
        );
        for s in &self.stores {
            let _ = writeln!(o, "Store {}: {} ({})", s.name, s.path, s.host_path);
            let _ = writeln!(
                o,
                "  format {} rev {}, {}-byte pages, {}, dbtime {:#x}",
                s.format.version, s.format.revision, s.format.page_size, s.db_state, s.dbtime
            );
            let _ = writeln!(
                o,
                "  base GUID {}, server {}, PatchState {}, PatchCount {}",
                s.base_guid.as_deref().unwrap_or("?"),
                s.server_name.as_deref().unwrap_or("?"),
                s.patch_state.map_or("?".into(), |v| v.to_string()),
                s.patch_count.map_or("?".into(), |v| v.to_string())
            );
            let own = s.own_rows.as_ref();
            let rows: Vec<String> = s
                .rows
                .iter()
                .flatten()
                .map(|(t, n)| match own.and_then(|o| o.get(t)) {
                    Some(own) => format!("{t} {n} ({own} own)"),
                    None => format!("{t} {n}"),
                })
                .collect();
            if !rows.is_empty() {
                let _ = writeln!(o, "  rows: {}", rows.join(", "));
            }
            if let Some(c) = &s.census {
                let old: Vec<_> = c
                    .columns
                    .iter()
                    .filter(|c| c.needle == crate::patch::census::OLD)
                    .collect();
                let _ = writeln!(
                    o,
                    "  census of the old base GUID ({} pages searched, {} with it):",
                    c.pages, c.pages_with_hits
                );
                for col in &old {
                    let uncovered = s
                        .uncovered
                        .iter()
                        .any(|u| u.table == col.table && u.column == col.column);
                    let _ = writeln!(
                        o,
                        "    {}.{}: {}{}",
                        col.table,
                        col.column,
                        crate::patch::census::rows(col.records),
                        if uncovered {
                            " — NOT rewritten by the patch"
                        } else {
                            ""
                        }
                    );
                }
                for n in &s.census_notes {
                    let _ = writeln!(o, "    note: {n}");
                }
            }
        }
        let _ = writeln!(o, "Registry:");
        for p in &self.registry.places {
            let key = if p.key.is_empty() { "(root)" } else { &p.key };
            let guids: Vec<String> = p
                .base_guids
                .iter()
                .map(|(k, g)| format!("{k} {g}"))
                .collect();
            let names: Vec<String> = p
                .server_names
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(o, "  {} {key}", p.file);
            let _ = writeln!(o, "    Base GUID: {}", guids.join(", "));
            let _ = writeln!(o, "    {}", names.join(", "));
        }
        for w in &self.warnings {
            let _ = writeln!(o, "warning: {w}");
        }
        if !self.pages_read {
            let _ = writeln!(
                o,
                "Pages not read (--quick): no page checks, row counts or census; inspect \
                 without --quick, or plan, reads every page."
            );
        }
        if !self.problems.is_empty() {
            let _ = writeln!(o, "Problems (the patch is refused until they are fixed):");
            for p in &self.problems {
                let _ = writeln!(o, "  - {p}");
            }
        } else if self.patch_needed {
            let _ = writeln!(o, "Patch needed:");
            for r in &self.reasons {
                let _ = writeln!(o, "  - {r}");
            }
        } else {
            let _ = writeln!(o, "No patch needed: stores and registry agree.");
        }
        o
    }
}
