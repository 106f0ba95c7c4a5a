//! The plan: the new base GUIDs, the target name, the patch time, every registry edit, per
//! table the rows to rewrite, and the size and SHA-256 of every input. `plan --out PLAN.json`
//! saves it; `apply --plan` applies exactly it and refuses an input whose hash differs.

use crate::exchange::registry::HiveView;
use crate::exchange::Profile;
use crate::exchange::{Guid, StoreKind};
use crate::manifest::sums::{hash_file, FileDigest};
use crate::patch::discover::Installation;
use crate::patch::hives::{plan_key_edits, ValueEdit};
use crate::patch::time::PatchTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The plan file's format tag.
pub const PLAN_FORMAT: &str = "coldpatch-plan-1";
/// The label of [`Guid::derive`] for new base GUIDs with `--seed` (store-model.md, step 1).
pub const BASE_GUID_LABEL: &str = "coldpatch base GUID";
/// The tool's version, as reports show it.
pub const TOOL_VERSION: &str = concat!("coldpatch ", env!("CARGO_PKG_VERSION"));

/// One store's patch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorePlan {
    pub name: StoreKind,
    /// Relative to the image.
    pub path: String,
    pub windows_path: String,
    pub old_base_guid: Guid,
    pub new_base_guid: Guid,
    pub old_server_name: Option<String>,
    pub new_server_name: String,
    pub old_patch_count: i32,
    pub new_patch_count: i32,
    /// Table → rows the patch rewrites (`Globals`: its one row).
    pub rows_to_rewrite: BTreeMap<String, u64>,
    /// Table → rows left alone (other servers' GUIDs).
    pub rows_foreign: BTreeMap<String, u64>,
    /// Columns outside the store model that hold the old base GUID (the census; `apply`
    /// refuses them unless allowed).
    #[serde(default)]
    pub uncovered: Vec<crate::patch::census::Uncovered>,
}

/// The whole plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub tool_version: String,
    pub patch_time: PatchTime,
    pub patch_time_text: String,
    pub target_server_name: String,
    pub target_server_name_source: String,
    pub seed: Option<String>,
    pub skip_checkpoint: bool,
    pub stores: Vec<StorePlan>,
    pub registry_edits: Vec<ValueEdit>,
    /// Every input read, relative to the image (empty until hashed).
    pub inputs: Vec<FileDigest>,
    pub warnings: Vec<String>,
    /// `--allow-uncovered TABLE.COLUMN`: uncovered places patched anyway.
    #[serde(default)]
    pub allowed_uncovered: Vec<String>,
}

/// Why a plan cannot be made (the installation has problems, or a value cannot be read).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// New base GUIDs: derived from `seed` and the store name, else random.
pub fn new_guids(seed: Option<&str>) -> BTreeMap<StoreKind, Guid> {
    StoreKind::ALL
        .iter()
        .map(|&k| {
            let g = match seed {
                Some(s) => Guid::derive(BASE_GUID_LABEL, s, k.name()),
                None => Guid::new_random(),
            };
            (k, g)
        })
        .collect()
}

impl Plan {
    /// Computes the plan for a discovered installation without problems.
    pub fn compute(
        inst: &Installation,
        profile: &Profile,
        guids: &BTreeMap<StoreKind, Guid>,
        time: PatchTime,
        seed: Option<&str>,
        skip_checkpoint: bool,
    ) -> Result<Plan, PlanError> {
        let Some((target, source)) = inst.target.clone() else {
            return Err(PlanError("no target server name".into()));
        };
        let mut stores = Vec::new();
        for s in &inst.stores {
            let (Some(g), Some(layout)) = (&s.globals, &s.layout) else {
                return Err(PlanError(format!("{}: Globals not read", s.rel())));
            };
            let new = guids[&s.kind];
            let mut rows_to_rewrite = BTreeMap::new();
            let mut rows_foreign = BTreeMap::new();
            rows_to_rewrite.insert(layout.globals.table.clone(), 1);
            for t in &layout.guid_tables {
                if let Some(c) = s.counts.get(&t.table) {
                    let own = c.by_guid.get(&g.base_guid).copied().unwrap_or(0);
                    rows_to_rewrite.insert(t.table.clone(), own);
                    rows_foreign.insert(t.table.clone(), c.rows - own);
                }
            }
            let old_count = g.patch_count.unwrap_or(0);
            stores.push(StorePlan {
                name: s.kind,
                path: s.rel(),
                windows_path: s.windows_path.clone(),
                old_base_guid: g.base_guid,
                new_base_guid: new,
                old_server_name: g.server_name.clone(),
                new_server_name: target.clone(),
                old_patch_count: old_count,
                new_patch_count: old_count.saturating_add(1),
                rows_to_rewrite,
                rows_foreign,
                uncovered: s.uncovered.clone(),
            });
        }
        let store_guids: BTreeMap<StoreKind, Guid> =
            stores.iter().map(|s| (s.name, s.new_base_guid)).collect();
        let mut registry_edits = Vec::new();
        for (hive, svc) in inst.registry_places() {
            let view = HiveView::new(hive.rel(), hive.map.bytes())
                .map_err(|e| PlanError(e.to_string()))?;
            registry_edits.extend(
                plan_key_edits(
                    &view,
                    &hive.rel(),
                    &svc.key,
                    &store_guids,
                    &target,
                    &profile.system,
                )
                .map_err(|e| PlanError(e.to_string()))?,
            );
        }
        Ok(Plan {
            format: PLAN_FORMAT.into(),
            tool_version: TOOL_VERSION.into(),
            patch_time: time,
            patch_time_text: time.rfc3339(),
            target_server_name: target,
            target_server_name_source: source.describe().into(),
            seed: seed.map(str::to_string),
            skip_checkpoint,
            stores,
            registry_edits,
            inputs: Vec::new(),
            warnings: inst.warnings.clone(),
            allowed_uncovered: Vec::new(),
        })
    }

    /// The new base GUID of each store.
    pub fn guids(&self) -> BTreeMap<StoreKind, Guid> {
        self.stores
            .iter()
            .map(|s| (s.name, s.new_base_guid))
            .collect()
    }

    /// The registry edits of one hive (relative path).
    pub fn edits_of(&self, file: &str) -> Vec<ValueEdit> {
        self.registry_edits
            .iter()
            .filter(|e| e.file == file)
            .cloned()
            .collect()
    }
}

/// Every file the patch reads, relative to the image, with its host path.
pub fn input_files(inst: &Installation) -> Vec<(String, std::path::PathBuf)> {
    let mut out = vec![(inst.system.rel(), inst.system.resolved.host.clone())];
    if let Some((h, _)) = &inst.system_alt {
        out.push((h.rel(), h.resolved.host.clone()));
    }
    if let Some((h, _)) = &inst.software {
        out.push((h.rel(), h.resolved.host.clone()));
    }
    if let Some(c) = &inst.cluster {
        out.push((c.clusdb.rel(), c.clusdb.resolved.host.clone()));
        for cp in &c.checkpoints {
            if let Some(f) = &cp.file {
                out.push((f.rel(), f.resolved.host.clone()));
            }
        }
    }
    for s in &inst.stores {
        out.push((s.rel(), s.resolved.host.clone()));
    }
    out.sort();
    out.dedup();
    out
}

/// Hashes every input (a read of each file).
pub fn hash_inputs(inst: &Installation) -> Result<Vec<FileDigest>, PlanError> {
    input_files(inst)
        .into_iter()
        .map(|(rel, host)| {
            let (size, sha256) =
                hash_file(&host).map_err(|e| PlanError(format!("{}: {e}", host.display())))?;
            Ok(FileDigest {
                path: rel,
                size,
                sha256,
            })
        })
        .collect()
}

/// Why the installation needs a patch (store-model.md, "When is a patch needed").
pub fn reasons(inst: &Installation, profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    let target = inst.target.as_ref().map(|t| t.0.as_str());
    for s in &inst.stores {
        let Some(g) = &s.globals else { continue };
        let name = s.kind.name();
        if g.patch_state == Some(1) {
            out.push(format!(
                "{name}: Globals.PatchState is 1: the store was restored from an offline backup \
                 and will not start (event 1087)"
            ));
        }
        if let Some(t) = target {
            if g.server_name.as_deref() != Some(t) {
                out.push(format!(
                    "{name}: Globals.ServerName is {} but the target server is {t} (event 7202)",
                    g.server_name.as_deref().unwrap_or("NULL")
                ));
            }
        }
        for (hive, svc) in inst.registry_places() {
            let place = if svc.key.is_empty() {
                hive.rel()
            } else {
                format!("{} {}", hive.rel(), svc.key)
            };
            match svc.base_guids.get(&s.kind) {
                Some(r) if *r == g.base_guid => {}
                Some(r) => out.push(format!(
                    "{name}: the base GUID is {} in the database but {r} in {place}\\{}",
                    g.base_guid,
                    profile.system.store_params(s.kind)
                )),
                None => out.push(format!(
                    "{name}: {place}\\{} has no {} value",
                    profile.system.store_params(s.kind),
                    profile.system.base_guid
                )),
            }
        }
    }
    if let Some(t) = target {
        for (hive, svc) in inst.registry_places() {
            for (value, v) in &svc.server_names {
                if v != t {
                    let key = if svc.key.is_empty() {
                        profile.system.params_system.clone()
                    } else {
                        format!("{}\\{}", svc.key, profile.system.params_system)
                    };
                    out.push(format!("{} {key}\\{value} is {v}, not {t}", hive.rel()));
                }
            }
        }
    }
    out
}

/// `SYSTEM.ALT` disagrees with `SYSTEM` (a stale mirror is a silent fallback to old values).
pub fn stale_mirror(inst: &Installation) -> Option<String> {
    let (alt, Some(alt_info)) = inst.system_alt.as_ref()? else {
        return None;
    };
    let sys = inst.system_info.as_ref()?;
    let view = |i: &crate::exchange::registry::SystemInfo| {
        i.control_sets
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.store_service
                        .as_ref()
                        .map(|s| (s.base_guids.clone(), s.server_names.clone())),
                )
            })
            .collect::<Vec<_>>()
    };
    (view(sys) != view(alt_info)).then(|| {
        format!(
            "{} disagreed with {} before the patch (other base GUIDs or server names): a stale \
             mirror; both now get the same edits",
            alt.rel(),
            inst.system.rel()
        )
    })
}
