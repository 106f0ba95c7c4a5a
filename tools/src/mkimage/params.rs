//! The command line of `mkimage` (product.md, "Lab images: mkimage") and the parameters that
//! fix an image's content.

use clap::{Parser, ValueEnum};
use coldpatch::ese::write::Format;
use coldpatch::exchange::profile::BODY_MAX;
use coldpatch::exchange::StoreKind;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which volumes the image has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Node system volume `C/`, shared Exchange disk `E/`, quorum disk `Q/`.
    Cluster,
    /// `C/` and `D/`, no cluster.
    Standalone,
}

/// The state the image is in; each scenario other than `restored` differs from it by exactly
/// one defect (or, for `patched`, by being consistent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `PatchState` 1, registry and checkpoint base GUIDs differ from the databases', server
    /// names `EXPROD1`: a patch is needed.
    Restored,
    /// Consistent: nothing to patch.
    Patched,
    /// `PRIV.EDB` in dirty-shutdown state.
    DirtyDb,
    /// Exactly one data page of `PRIV.EDB` with a wrong checksum.
    BadPage,
    /// `SYSTEM` with differing sequence numbers and a `SYSTEM.LOG` beside it.
    DirtyHive,
    /// A `Restore in Progress` subkey under `MSExchangeIS`.
    RestoreInProgress,
    /// The checkpoint file of the `MSExchangeIS` key is absent (cluster only).
    MissingCheckpoint,
    /// `SYSTEM.ALT` older than `SYSTEM`.
    StaleAlt,
    /// An extra index over `Msg.SourceGuid` in `PRIV.EDB`.
    IndexedGuid,
    /// `PRIV.EDB` also holds its base GUID in a table the store model does not know
    /// (`Attach`: a fixed, a tagged, a text and a UTF-16 long text column).
    HiddenGuid,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Scenario::Restored,
        Scenario::Patched,
        Scenario::DirtyDb,
        Scenario::BadPage,
        Scenario::DirtyHive,
        Scenario::RestoreInProgress,
        Scenario::MissingCheckpoint,
        Scenario::StaleAlt,
        Scenario::IndexedGuid,
        Scenario::HiddenGuid,
    ];

    /// The name on the command line and in `image.json`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Restored => "restored",
            Scenario::Patched => "patched",
            Scenario::DirtyDb => "dirty-db",
            Scenario::BadPage => "bad-page",
            Scenario::DirtyHive => "dirty-hive",
            Scenario::RestoreInProgress => "restore-in-progress",
            Scenario::MissingCheckpoint => "missing-checkpoint",
            Scenario::StaleAlt => "stale-alt",
            Scenario::IndexedGuid => "indexed-guid",
            Scenario::HiddenGuid => "hidden-guid",
        }
    }
}

/// The on-disk form of the databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatArg {
    /// Exchange 5.5: version 0x620, revision 2.
    Ese97,
    /// Revision 9, readable by libesedb and dissect.esedb.
    Ese98,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Ese97 => Format::Ese97,
            FormatArg::Ese98 => Format::Ese98,
        }
    }
}

/// Writes a complete synthetic Exchange 5.5 image (volumes as directories) and its ground
/// truth, `OUT_DIR/image.json`.
#[derive(Parser, Debug, Clone)]
#[command(name = "mkimage", version, about, long_about = None)]
pub struct Cli {
    /// The directory to create (must not exist, or be empty).
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub params: ImageParams,
}

/// Everything that fixes an image's content: the same parameters give byte-identical images.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageParams {
    /// Volumes: a two-node cluster (C, E, Q) or a standalone server (C, D).
    #[arg(long, value_enum, default_value_t = Layout::Cluster)]
    pub layout: Layout,
    /// The state of the image.
    #[arg(long, value_enum, default_value_t = Scenario::Restored)]
    pub scenario: Scenario,
    /// Folders per store (at least 1: the root folder).
    #[arg(long, default_value_t = 50)]
    pub folders: u64,
    /// Messages per store (of `PRIV.EDB`, and of `PUB.EDB` unless `--pub-messages` is given).
    #[arg(long, default_value_t = 500)]
    pub messages: u64,
    /// Messages of the public store `PUB.EDB`, when it should differ from `--messages` (a
    /// private store is usually the bigger one).
    #[arg(long)]
    pub pub_messages: Option<u64>,
    /// Bytes of each message body (kept in the record: at most 1024).
    #[arg(long, default_value_t = 512)]
    pub body_bytes: u32,
    /// Percent of folders, messages and replication rows that carry other servers' GUIDs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub foreign: u8,
    /// Database format.
    #[arg(long, value_enum, default_value_t = FormatArg::Ese97)]
    pub format: FormatArg,
    /// Fixes every GUID, name, value and timestamp.
    #[arg(long, default_value = "mkimage")]
    pub seed: String,
}

impl Default for ImageParams {
    fn default() -> Self {
        ImageParams {
            layout: Layout::Cluster,
            scenario: Scenario::Restored,
            folders: 50,
            messages: 500,
            pub_messages: None,
            body_bytes: 512,
            foreign: 20,
            format: FormatArg::Ese97,
            seed: "mkimage".into(),
        }
    }
}

/// Most folders per store: `ReplState` has up to one row per folder and replica (the store and
/// four foreign servers), numbered by a Long.
pub const MAX_FOLDERS: u64 = (i32::MAX / 5) as u64;

/// Parameters that cannot make an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("--folders must be at least 1 (the root folder)")]
    NoFolders,
    #[error(
        "--body-bytes {0} is more than {BODY_MAX}: the store model keeps bodies in the record"
    )]
    BodyTooLong(u32),
    #[error("--foreign {0} is more than 100 percent")]
    ForeignOver100(u8),
    #[error("--scenario {0} needs --layout cluster (a standalone image has no checkpoint)")]
    NeedsCluster(&'static str),
    #[error("--folders and --messages give more than {max} object ids", max = i64::MAX)]
    TooManyIds,
    #[error("--folders {0} is more than {MAX_FOLDERS}: ReplStateId (a Long) would overflow")]
    TooManyFolders(u64),
}

impl ImageParams {
    /// Messages of the store `kind`.
    pub fn messages_of(&self, kind: StoreKind) -> u64 {
        match kind {
            StoreKind::Priv => self.messages,
            StoreKind::Pub => self.pub_messages.unwrap_or(self.messages),
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        if self.folders == 0 {
            return Err(ParamError::NoFolders);
        }
        if self.body_bytes > BODY_MAX {
            return Err(ParamError::BodyTooLong(self.body_bytes));
        }
        if self.foreign > 100 {
            return Err(ParamError::ForeignOver100(self.foreign));
        }
        if self.scenario == Scenario::MissingCheckpoint && self.layout != Layout::Cluster {
            return Err(ParamError::NeedsCluster(self.scenario.name()));
        }
        if self.folders > MAX_FOLDERS {
            return Err(ParamError::TooManyFolders(self.folders));
        }
        // Ids are Currency (i64); change numbers go up to a few times the ids.
        let ids = self
            .folders
            .checked_add(self.messages.max(self.pub_messages.unwrap_or(0)))
            .and_then(|n| n.checked_mul(8))
            .filter(|n| *n < i64::MAX as u64);
        if ids.is_none() {
            return Err(ParamError::TooManyIds);
        }
        Ok(())
    }
}
