//! `fuzz-profile`: prints the built-in profile (the Exchange 5.5 store and registry model) as
//! JSON, the seed of the `profile` fuzz target (`scripts/fuzz.sh`).

use coldpatch::exchange::Profile;
use std::process::ExitCode;

fn main() -> ExitCode {
    match serde_json::to_string_pretty(&Profile::exchange55()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fuzz-profile: cannot format the profile: {e}");
            ExitCode::FAILURE
        }
    }
}
