//! The operations of a `.reg` import, applied to an [`Editor`]: the link between the `.reg`
//! text layer and the hive editor. Paths are relative to the hive's root key.

use super::edit::Editor;
use super::error::RegfError;

/// One change a `.reg` file asks for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RegOp {
    /// `[Key]`: the key and its missing parents are created.
    CreateKey { path: String },
    /// `[-Key]`: the key and everything below it are deleted (absent: nothing to do).
    DeleteKey { path: String },
    /// `"Name"=...`: the value is set (the key is created first when missing).
    SetValue {
        path: String,
        name: String,
        kind: u32,
        data: Vec<u8>,
    },
    /// `"Name"=-`: the value is deleted (absent: nothing to do).
    DeleteValue { path: String, name: String },
}

/// What applying the operations did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplySummary {
    pub keys_created: usize,
    pub keys_deleted: usize,
    pub values_set: usize,
    pub values_deleted: usize,
}

/// An operation that failed: its index in the list and why.
#[derive(Debug, thiserror::Error)]
#[error("operation {index} ({op:?}): {source}")]
pub struct OpError {
    pub index: usize,
    pub op: Box<RegOp>,
    #[source]
    pub source: RegfError,
}

/// Applies every operation in order; stops at the first failure (the caller then writes
/// nothing).
pub fn apply_ops(ed: &mut Editor, ops: &[RegOp]) -> Result<ApplySummary, OpError> {
    let mut s = ApplySummary::default();
    for (index, op) in ops.iter().enumerate() {
        let fail = |source| OpError {
            index,
            op: Box::new(op.clone()),
            source,
        };
        match op {
            RegOp::CreateKey { path } => {
                s.keys_created += ed.create_key_counted(path).map_err(fail)?.1;
            }
            RegOp::DeleteKey { path } => {
                if ed.delete_key(path).map_err(fail)? {
                    s.keys_deleted += 1;
                }
            }
            RegOp::SetValue {
                path,
                name,
                kind,
                data,
            } => {
                s.keys_created += ed.create_key_counted(path).map_err(fail)?.1;
                ed.set_value(path, name, *kind, data).map_err(fail)?;
                s.values_set += 1;
            }
            RegOp::DeleteValue { path, name } => {
                if ed.hive().key_by_path(path).map_err(fail)?.is_some()
                    && ed.delete_value(path, name).map_err(fail)?
                {
                    s.values_deleted += 1;
                }
            }
        }
    }
    Ok(s)
}
