//! `coldpatch inspect FILE.edb`: the header (as `eseutil /mh` shows it) and every table.

use crate::cli::{Exit, Failure, GlobalArgs};
use std::path::Path;

pub fn run(_global: &GlobalArgs, target: &Path) -> Result<Exit, Failure> {
    Err(Failure::usage(format!(
        "{}: inspect is not built yet",
        target.display()
    )))
}
