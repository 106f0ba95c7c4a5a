//! `mkimage`: a complete synthetic Exchange 5.5 image of any size (product.md, "Lab images").
//!
//! * [`params`]: the command line and the parameters that fix an image;
//! * [`spec`]: every name, GUID, flag and time, from the parameters alone;
//! * [`rows`]: the database rows, streamed; [`hives`]: the key trees;
//! * [`run`]: writing the files atomically, the scenario's defect, `image.json` ([`truth`]);
//! * [`corrupt`]: the `bad-page` defect; [`hidden`]: the `hidden-guid` table.

pub mod corrupt;
pub mod hidden;
pub mod hives;
pub mod params;
pub mod rng;
pub mod rows;
pub mod run;
pub mod spec;
pub mod truth;

use std::io::IsTerminal;

/// Runs `mkimage` with parsed arguments; returns the process exit code.
pub fn main_with(cli: params::Cli) -> u8 {
    let progress = std::io::stderr().is_terminal();
    match run::generate(&cli.out_dir, &cli.params, progress) {
        Ok(truth) => {
            let size: u64 = truth.files.iter().map(|f| f.size).sum();
            println!(
                "{}: {} image, scenario {}, {} files, {} bytes",
                cli.out_dir.display(),
                match truth.layout {
                    params::Layout::Cluster => "cluster",
                    params::Layout::Standalone => "standalone",
                },
                truth.scenario.name(),
                truth.files.len(),
                size
            );
            0
        }
        Err(e) => {
            eprintln!("mkimage: {e}");
            e.exit_code()
        }
    }
}
