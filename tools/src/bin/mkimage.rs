//! `mkimage`: writes a complete synthetic Exchange 5.5 image (product.md, "Lab images").

use clap::Parser;
use coldpatch_tools::mkimage::{main_with, params::Cli};

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(main_with(Cli::parse()))
}
