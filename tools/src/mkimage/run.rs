//! Writing an image: every file through a temporary name and a rename, the scenario's defect,
//! the hashes, and `image.json` last (a killed run leaves no file that looks finished and no
//! `image.json`).

use super::corrupt::{break_one_page, BadPage, CorruptError};
use super::hives::{
    checkpoint_tree, clusdb_tree, dirty_system, hive_options, software_tree, system_tree,
    CLUSDB_FILE_NAME, DIRTY_WRITE_GAP, SOFTWARE_FILE_NAME, SYSTEM_FILE_NAME,
};
use super::params::{ImageParams, ParamError};
use super::rows::{expected_counts, store_tables, total_rows};
use super::spec::{
    ImageSpec, CURRENT_CONTROL_SET, LAST_KNOWN_GOOD_CONTROL_SET, OS_VERSION, PRODUCTION_SERVER,
};
use super::truth::{
    registry_place, BadPageTruth, CheckpointTruth, ClusterTruth, DatabaseTruth, Defects,
    DirtyHiveTruth, FileTruth, ForeignGuid, ImageTruth, NamedId, RegistryPlace, ResourceTruth,
    StaleAltTruth, VolumeTruth,
};
use crate::writers::{self, WriteError};
use coldpatch::ese::write::BuildOptions;
use coldpatch::exchange::names::{validate_server_name, NameError};
use coldpatch::exchange::StoreKind;
use coldpatch::image::write::{sync_dir, Cache};
use coldpatch::regf::write::KeySpec;
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The ground-truth file.
pub const IMAGE_JSON: &str = "image.json";
/// Suffix of a file being written; renamed away when the file is complete.
pub const PARTIAL_SUFFIX: &str = ".mkimage-partial";
/// The system root on the system volume (NT4 and Windows 2000 install to `WINNT`).
const SYSTEM_ROOT: &str = "WINNT";
const QUORUM_LOG_PLACEHOLDER: &[u8] =
    b"mkimage placeholder quorum log: the quorum log format is not modelled.\r\n";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Params(#[from] ParamError),
    #[error("{0}")]
    Name(#[from] NameError),
    #[error("{path}: {reason}")]
    OutDir { path: PathBuf, reason: String },
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("{0}")]
    Corrupt(#[from] CorruptError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: table {table}: the builder wrote {written} rows, the image has {expected}")]
    RowCount {
        path: String,
        table: String,
        expected: u64,
        written: u64,
    },
}

impl RunError {
    /// Exit code (product.md): 2 usage error, 3 failure while writing.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Params(_) | RunError::Name(_) | RunError::OutDir { .. } => 2,
            _ => 3,
        }
    }
}

/// The key trees of an image, as they are logically (a dirty hive after its log is replayed).
#[derive(Clone, Debug, PartialEq)]
pub struct Trees {
    pub system: KeySpec,
    pub system_alt: KeySpec,
    pub software: KeySpec,
    pub clusdb: Option<KeySpec>,
    pub checkpoint: Option<KeySpec>,
}

pub fn trees(spec: &ImageSpec) -> Trees {
    Trees {
        system: system_tree(spec, &spec.system),
        system_alt: system_tree(spec, &spec.system_alt),
        software: software_tree(spec),
        clusdb: spec.cluster.as_ref().map(|c| clusdb_tree(spec, c)),
        checkpoint: spec.checkpoint.as_ref().map(|s| checkpoint_tree(spec, s)),
    }
}

/// The header facts of one store's database: it was created on the production server.
pub fn build_options(spec: &ImageSpec, kind: StoreKind) -> BuildOptions {
    let store = spec.store(kind);
    BuildOptions {
        format: spec.params.format.into(),
        computer_name: PRODUCTION_SERVER.to_string(),
        signature_random: store.signature_random,
        created_unix: spec.times.db_created_unix,
        os_version: OS_VERSION,
        clean_shutdown: store.clean_shutdown,
    }
}

/// Relative paths of the image's files (`/`-separated, below `OUT_DIR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    pub system: String,
    pub system_alt: String,
    pub system_log: String,
    pub software: String,
    pub clusdb: String,
    pub database: [String; 2],
    pub checkpoint: String,
    pub chk_tmp: String,
    pub quolog: String,
}

impl Paths {
    pub fn of(spec: &ImageSpec) -> Paths {
        let config = format!("{}/{SYSTEM_ROOT}/system32/config", spec.volumes.system);
        let q = spec.volumes.quorum.unwrap_or('Q');
        let quorum_dir = spec
            .cluster
            .as_ref()
            .map(|c| windows_to_rel(&c.quorum_path))
            .unwrap_or_else(|| format!("{q}/MSCS"));
        let checkpoint = match &spec.cluster {
            Some(c) => {
                let value = c
                    .resources
                    .iter()
                    .find(|r| r.id == c.store_resource)
                    .and_then(|r| r.regsync.first())
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                format!(
                    "{quorum_dir}/{}/{}",
                    c.store_resource.to_cluster_id(),
                    spec.profile.cluster.checkpoint_file_name(&value)
                )
            }
            None => String::new(),
        };
        Paths {
            system: format!("{config}/SYSTEM"),
            system_alt: format!("{config}/SYSTEM.ALT"),
            system_log: format!("{config}/SYSTEM.LOG"),
            software: format!("{config}/SOFTWARE"),
            clusdb: format!("{}/{SYSTEM_ROOT}/Cluster/CLUSDB", spec.volumes.system),
            database: StoreKind::ALL.map(|k| windows_to_rel(&spec.store(k).windows_path)),
            checkpoint,
            chk_tmp: format!("{quorum_dir}/CHK0001.TMP"),
            quolog: format!("{quorum_dir}/quolog.log"),
        }
    }
}

/// `E:\exchsrvr\MDBDATA\PRIV.EDB` → `E/exchsrvr/MDBDATA/PRIV.EDB` (trailing separator dropped).
pub fn windows_to_rel(path: &str) -> String {
    let (drive, rest) = path.split_once(":\\").unwrap_or(("", path));
    let mut parts = vec![drive.to_string()];
    parts.extend(
        rest.split('\\')
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    parts.join("/")
}

/// `E/exchsrvr/MDBDATA/PRIV.EDB` → `E:\exchsrvr\MDBDATA\PRIV.EDB`.
pub fn rel_to_windows(rel: &str) -> String {
    match rel.split_once('/') {
        Some((drive, rest)) => format!("{drive}:\\{}", rest.replace('/', "\\")),
        None => format!("{rel}:\\"),
    }
}

/// Writes a file at `final_path` through `<name>.mkimage-partial` beside it; the partial file
/// is removed if `write` fails.
fn atomically<T>(
    final_path: &Path,
    write: impl FnOnce(&Path) -> Result<T, RunError>,
) -> Result<T, RunError> {
    let mut name = final_path.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL_SUFFIX);
    let partial = final_path.with_file_name(name);
    match write(&partial) {
        Ok(v) => {
            std::fs::rename(&partial, final_path).map_err(|source| RunError::Io {
                path: final_path.to_path_buf(),
                source,
            })?;
            // The rename itself must reach the disk before image.json (written last) can:
            // otherwise a power loss could leave an image.json naming files that are not there.
            let dir = final_path.parent().unwrap_or(Path::new("."));
            sync_dir(dir).map_err(|source| RunError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            Ok(v)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Size and SHA-256 (hex) of a file written by this run, read once and dropped from the page
/// cache as it goes (a large image would otherwise fill the cache with pages read once).
fn sha256_file(path: &Path) -> Result<(u64, String), RunError> {
    let (size, digest) =
        coldpatch::image::write::sha256_file(path, Cache::Drop).map_err(|source| RunError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok((size, coldpatch::manifest::sums::hex(&digest)))
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let io = |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::create(path).map_err(io)?;
    std::io::Write::write_all(&mut f, bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn copy_file(from: &Path, to: &Path) -> Result<(), RunError> {
    std::fs::copy(from, to).map_err(|source| RunError::Io {
        path: to.to_path_buf(),
        source,
    })?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|source| RunError::Io {
            path: to.to_path_buf(),
            source,
        })
}

/// Refuses an `OUT_DIR` that exists and is not an empty directory, then creates it.
fn prepare_out_dir(out: &Path) -> Result<(), RunError> {
    let err = |reason: String| RunError::OutDir {
        path: out.to_path_buf(),
        reason,
    };
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).map_err(|e| err(format!("cannot read the directory: {e}")))?;
        if entries.next().is_some() {
            return Err(err(
                "exists and is not empty; remove it or choose another directory".into(),
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| err(format!("cannot create: {e}")))
}

struct Writer<'a> {
    out: &'a Path,
    files: Vec<FileTruth>,
}

impl Writer<'_> {
    fn host(&self, rel: &str) -> Result<PathBuf, RunError> {
        let p = self.out.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|source| RunError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        Ok(p)
    }

    fn record(&mut self, rel: &str, kind: &str) -> Result<(), RunError> {
        let (size, sha256) = sha256_file(&self.out.join(rel))?;
        self.files.push(FileTruth {
            path: rel.to_string(),
            windows_path: rel_to_windows(rel),
            kind: kind.to_string(),
            size,
            sha256,
        });
        Ok(())
    }

    /// The files, every hash in.
    fn finish(self) -> Result<Vec<FileTruth>, RunError> {
        Ok(self.files)
    }
}

/// One store's database, built, durable and hashed.
struct BuiltStore {
    bad_page: Option<BadPage>,
    size: u64,
    sha256: String,
}

/// Builds one store's database at `host` (through its partial name), checks its row counts
/// against the shape, breaks a page if the scenario says so and makes the file durable before
/// the rename. Returns the broken page.
fn build_store(
    spec: &ImageSpec,
    kind: StoreKind,
    rel: &str,
    host: &Path,
    bar: &ProgressBar,
) -> Result<Option<BadPage>, RunError> {
    let store = spec.store(kind);
    let opts = build_options(spec, kind);
    let expected = expected_counts(spec, kind);
    atomically(host, |partial| {
        let tables = store_tables(spec, kind)
            .into_iter()
            .map(|mut t| {
                let b = bar.clone();
                t.rows = Box::new(t.rows.inspect(move |_| b.inc(1)));
                t
            })
            .collect();
        let report = writers::write_database(partial, &opts, tables)?;
        for (table, written) in &report.rows {
            let want = expected.rows.get(table).copied().unwrap_or(0);
            if *written != want {
                return Err(RunError::RowCount {
                    path: rel.to_string(),
                    table: table.clone(),
                    expected: want,
                    written: *written,
                });
            }
        }
        let bad = if store.bad_page {
            Some(break_one_page(partial)?)
        } else {
            None
        };
        // The builder fsyncs its file; a broken page is fsynced by `break_one_page`.
        Ok(bad)
    })
}

/// Writes the image `params` describe into `out` and returns its ground truth (also written
/// to `out/image.json`). `progress`: draw a progress bar on stderr.
pub fn generate(out: &Path, params: &ImageParams, progress: bool) -> Result<ImageTruth, RunError> {
    params.validate()?;
    let spec = ImageSpec::new(params);
    for name in spec.netbios_names() {
        validate_server_name(name)?;
    }
    prepare_out_dir(out)?;
    let paths = Paths::of(&spec);
    let trees = trees(&spec);
    let mut w = Writer {
        out,
        files: Vec::new(),
    };
    let mut defects = Defects::default();

    let bar = if progress {
        let b = ProgressBar::new(total_rows(&spec));
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({eta})",
        ) {
            b.set_style(style);
        }
        b
    } else {
        ProgressBar::hidden()
    };

    // The databases: both stores at once, each on its own thread, which hashes its file too
    // (PRIV.EDB is three quarters of the bytes; PUB.EDB is built and hashed meanwhile).
    let hosts = paths
        .database
        .iter()
        .map(|rel| w.host(rel))
        .collect::<Result<Vec<_>, _>>()?;
    bar.set_message("EDB");
    let built: Vec<Result<BuiltStore, RunError>> = std::thread::scope(|s| {
        let handles: Vec<_> = StoreKind::ALL
            .into_iter()
            .zip(paths.database.iter().zip(&hosts))
            .map(|(kind, (rel, host))| {
                let (spec, bar) = (&spec, &bar);
                let handle = s.spawn(move || {
                    let bad_page = build_store(spec, kind, rel, host, bar)?;
                    let (size, sha256) = sha256_file(host)?;
                    Ok(BuiltStore {
                        bad_page,
                        size,
                        sha256,
                    })
                });
                (host, handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(host, handle)| {
                handle.join().unwrap_or_else(|_| {
                    Err(RunError::Io {
                        path: host.clone(),
                        source: std::io::Error::other("the database thread panicked"),
                    })
                })
            })
            .collect()
    });
    let mut databases = Vec::new();
    for ((i, kind), result) in StoreKind::ALL.into_iter().enumerate().zip(built) {
        let store = spec.store(kind);
        let rel = &paths.database[i];
        let expected = expected_counts(&spec, kind);
        let BuiltStore {
            bad_page,
            size,
            sha256,
        } = result?;
        w.files.push(FileTruth {
            path: rel.to_string(),
            windows_path: rel_to_windows(rel),
            kind: "ese".to_string(),
            size,
            sha256,
        });
        if let Some(page) = bad_page {
            defects.bad_page = Some(BadPageTruth {
                file: rel.clone(),
                page,
            });
        }
        if !store.clean_shutdown {
            defects.dirty_db = Some(rel.clone());
        }
        for (table, index) in &store.extra_indexes {
            let cols: Vec<&str> = index.columns.iter().map(|(c, _)| c.as_str()).collect();
            defects.indexed_guid =
                Some(format!("{rel}:{table}.{}({})", index.name, cols.join(", ")));
        }
        let hidden_guid = if store.hidden_guid {
            super::hidden::places(super::hidden::attach_rows_count(
                spec.params.messages_of(kind),
            ))
        } else {
            Vec::new()
        };
        for h in &hidden_guid {
            defects
                .hidden_guid
                .push(format!("{rel}:{}.{}", h.table, h.column));
        }
        databases.push(DatabaseTruth {
            store: kind,
            path: rel.clone(),
            windows_path: store.windows_path.clone(),
            base_guid: store.base_guid,
            server_name: store.server_name.clone(),
            patch_state: store.patch_state,
            patch_count: store.patch_count,
            patch_time: store.patch_time,
            clean_shutdown: store.clean_shutdown,
            extra_indexes: store
                .extra_indexes
                .iter()
                .map(|(t, i)| {
                    let cols: Vec<&str> = i.columns.iter().map(|(c, _)| c.as_str()).collect();
                    format!("{t}.{}({})", i.name, cols.join(", "))
                })
                .collect(),
            hidden_guid,
            foreign_guids: spec
                .foreign_servers
                .iter()
                .zip(&store.foreign_guids)
                .map(|(s, g)| ForeignGuid {
                    server: s.clone(),
                    guid: *g,
                })
                .collect(),
            rows: expected.rows,
            rows_by_guid: expected.by_guid,
        });
    }
    bar.finish_and_clear();

    // SYSTEM, SYSTEM.ALT, SOFTWARE.
    let system_opts = hive_options(
        SYSTEM_FILE_NAME,
        spec.system.sequence,
        spec.system.timestamp,
    );
    let host = w.host(&paths.system)?;
    if spec.system_dirty {
        let (base, edits) = dirty_system(&spec);
        // The primary file is one write behind: its clean state has the previous sequence
        // number and an earlier time; the write that crashed brings both to `system_opts`.
        let clean_opts = hive_options(
            SYSTEM_FILE_NAME,
            system_opts.sequence.wrapping_sub(1),
            system_opts.timestamp.saturating_sub(DIRTY_WRITE_GAP),
        );
        let log_host = w.host(&paths.system_log)?;
        // The log is renamed into place first: a hive that is there has its log beside it.
        atomically(&host, |partial| {
            atomically(&log_host, |log_partial| {
                Ok(writers::write_dirty_hive(
                    partial,
                    log_partial,
                    &base,
                    &clean_opts,
                    system_opts.timestamp,
                    &edits,
                )?)
            })
        })?;
        w.record(&paths.system, "regf")?;
        w.record(&paths.system_log, "regf-log")?;
        defects.dirty_hive = Some(DirtyHiveTruth {
            file: paths.system.clone(),
            log: paths.system_log.clone(),
            sequence1: system_opts.sequence,
            sequence2: clean_opts.sequence,
            pending_edits: edits,
        });
    } else {
        atomically(&host, |p| {
            Ok(writers::write_hive(p, &trees.system, &system_opts)?)
        })?;
        w.record(&paths.system, "regf")?;
    }
    let alt_opts = hive_options(
        SYSTEM_FILE_NAME,
        spec.system_alt.sequence,
        spec.system_alt.timestamp,
    );
    let host = w.host(&paths.system_alt)?;
    atomically(&host, |p| {
        Ok(writers::write_hive(p, &trees.system_alt, &alt_opts)?)
    })?;
    w.record(&paths.system_alt, "regf")?;
    if spec.system_alt != spec.system {
        defects.stale_alt = Some(StaleAltTruth {
            file: paths.system_alt.clone(),
            sequence: spec.system_alt.sequence,
            timestamp: spec.system_alt.timestamp,
            system_sequence: spec.system.sequence,
            system_timestamp: spec.system.timestamp,
        });
    }
    let sw_opts = hive_options(
        SOFTWARE_FILE_NAME,
        spec.software.sequence,
        spec.software.timestamp,
    );
    let host = w.host(&paths.software)?;
    atomically(&host, |p| {
        Ok(writers::write_hive(p, &trees.software, &sw_opts)?)
    })?;
    w.record(&paths.software, "regf")?;

    // The cluster hive and the quorum disk.
    let mut cluster_truth = None;
    if let (Some(c), Some(clusdb), Some(state)) = (&spec.cluster, &trees.clusdb, &spec.checkpoint) {
        let opts = hive_options(CLUSDB_FILE_NAME, c.clusdb.sequence, c.clusdb.timestamp);
        let host = w.host(&paths.clusdb)?;
        atomically(&host, |p| Ok(writers::write_hive(p, clusdb, &opts)?))?;
        w.record(&paths.clusdb, "regf")?;

        let cpt_name = paths.checkpoint.rsplit('/').next().unwrap_or_default();
        if c.checkpoint_present {
            if let Some(cpt) = &trees.checkpoint {
                let opts = hive_options(cpt_name, state.sequence, state.timestamp);
                let host = w.host(&paths.checkpoint)?;
                atomically(&host, |p| Ok(writers::write_hive(p, cpt, &opts)?))?;
                w.record(&paths.checkpoint, "regf")?;
            }
        } else {
            defects.missing_checkpoint = Some(paths.checkpoint.clone());
        }
        let src = out.join(&paths.clusdb);
        let host = w.host(&paths.chk_tmp)?;
        atomically(&host, |p| copy_file(&src, p))?;
        w.record(&paths.chk_tmp, "regf")?;
        let host = w.host(&paths.quolog)?;
        atomically(&host, |p| write_bytes(p, QUORUM_LOG_PLACEHOLDER))?;
        w.record(&paths.quolog, "quorum-log")?;

        cluster_truth = Some(cluster_truth_of(c, &paths));
    }

    // Registry places, read back from the trees.
    let mut registry = Vec::new();
    let m = &spec.profile.system;
    for (file, tree) in [
        (&paths.system, &trees.system),
        (&paths.system_alt, &trees.system_alt),
    ] {
        for n in [CURRENT_CONTROL_SET, LAST_KNOWN_GOOD_CONTROL_SET] {
            let cs = m.control_set_name(n);
            let key: Vec<String> = std::iter::once(cs.clone())
                .chain(m.store_service_key.iter().cloned())
                .collect();
            let cn: Vec<String> = std::iter::once(cs)
                .chain(m.computer_name_key.iter().cloned())
                .collect();
            registry.extend(registry_place(&spec.profile, file, tree, &key, Some(&cn)));
        }
    }
    if let (Some(cpt), Some(c)) = (&trees.checkpoint, &spec.cluster) {
        if c.checkpoint_present {
            registry.extend(registry_place(
                &spec.profile,
                &paths.checkpoint,
                cpt,
                &[],
                None,
            ));
        }
    }
    defects.restore_in_progress = registry
        .iter()
        .filter(|p: &&RegistryPlace| p.restore_in_progress)
        .map(|p| format!("{}:{}\\{}", p.file, p.key, m.restore_in_progress))
        .collect();

    let notes = vec![
        "The quorum log (quolog.log) is a placeholder: its format is not modelled.".to_string(),
    ];
    let volumes = volumes_of(&spec);
    let files = w.finish()?;
    let truth = ImageTruth {
        generator: "mkimage".into(),
        generator_version: env!("CARGO_PKG_VERSION").into(),
        layout: params.layout,
        scenario: params.scenario,
        seed: params.seed.clone(),
        format: params.format,
        folders: params.folders,
        messages: params.messages,
        pub_messages: params.messages_of(StoreKind::Pub),
        body_bytes: params.body_bytes,
        foreign_percent: params.foreign,
        computer_name: spec.computer_name.clone(),
        target_server_name: spec.target_server_name.clone(),
        production_server_name: PRODUCTION_SERVER.into(),
        volumes,
        files,
        databases,
        registry,
        cluster: cluster_truth,
        defects,
        notes,
    };
    let json = serde_json::to_vec_pretty(&truth).map_err(|e| RunError::Io {
        path: out.join(IMAGE_JSON),
        source: e.into(),
    })?;
    atomically(&out.join(IMAGE_JSON), |p| write_bytes(p, &json))?;
    Ok(truth)
}

fn volumes_of(spec: &ImageSpec) -> Vec<VolumeTruth> {
    let v = &spec.volumes;
    let mut out = vec![
        VolumeTruth {
            letter: v.system,
            dir: v.system.to_string(),
            role: "system".into(),
        },
        VolumeTruth {
            letter: v.exchange,
            dir: v.exchange.to_string(),
            role: if spec.cluster.is_some() {
                "shared exchange disk"
            } else {
                "exchange data"
            }
            .into(),
        },
    ];
    if let Some(q) = v.quorum {
        out.push(VolumeTruth {
            letter: q,
            dir: q.to_string(),
            role: "quorum".into(),
        });
    }
    out
}

fn cluster_truth_of(c: &super::spec::ClusterSpec, paths: &Paths) -> ClusterTruth {
    let group_of = |id| {
        c.groups
            .iter()
            .find(|g| g.contains.contains(&id))
            .map(|g| g.name.clone())
            .unwrap_or_default()
    };
    let exchange_group = c
        .groups
        .iter()
        .find(|g| g.contains.contains(&c.store_resource));
    let store = c.resources.iter().find(|r| r.id == c.store_resource);
    ClusterTruth {
        name: c.name.clone(),
        nodes: c.nodes.clone(),
        virtual_server: c.virtual_server.clone(),
        exchange_group: NamedId {
            id: exchange_group
                .map(|g| g.id.to_cluster_id())
                .unwrap_or_default(),
            name: exchange_group.map(|g| g.name.clone()).unwrap_or_default(),
        },
        store_resource: NamedId {
            id: c.store_resource.to_cluster_id(),
            name: store.map(|r| r.name.clone()).unwrap_or_default(),
        },
        quorum_path: c.quorum_path.clone(),
        resources: c
            .resources
            .iter()
            .map(|r| ResourceTruth {
                id: r.id.to_cluster_id(),
                name: r.name.clone(),
                type_: r.type_.clone(),
                group: group_of(r.id),
            })
            .collect(),
        checkpoints: store
            .map(|r| {
                r.regsync
                    .iter()
                    .map(|(_, key)| CheckpointTruth {
                        key: key.clone(),
                        windows_path: rel_to_windows(&paths.checkpoint),
                        file: paths.checkpoint.clone(),
                        present: c.checkpoint_present,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
