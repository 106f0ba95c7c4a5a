//! The man pages of `coldpatch`, rendered from its clap definitions: one function, used by
//! `gen-man` to write `man/` and by tools/tests/man_pages.rs to check it is up to date.

use clap::CommandFactory;

/// The command that rewrites `man/` from the clap definitions (run from the repository root).
pub const REGENERATE: &str = "cargo run -q -p coldpatch-tools --bin gen-man -- man";

/// Every page, sorted by file name: `coldpatch.1`, then one per verb and sub-verb at any depth
/// (`coldpatch-verify.1`, `coldpatch-reg-export.1`, ...), without clap's `help` verb or
/// hidden verbs. Each is (file name, roff source). Nothing variable goes in: no date, only
/// the name, the version and the help texts, so the same definitions give the same bytes.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = coldpatch::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    // Every page's footer names the program and its version (`coldpatch 0.1.0`), not the
    // verb alone.
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut pages = Vec::new();
    add_pages(&cmd, source.trim_end(), &mut pages);
    pages.sort();
    pages
}

fn add_pages(cmd: &clap::Command, source: &str, pages: &mut Vec<(String, Vec<u8>)>) {
    // The date is a blank, not an empty string: an empty argument of `.TH` is written as
    // nothing at all, and the source would move into the date's place.
    let man = clap_mangen::Man::new(cmd.clone()).date(" ").source(source);
    let mut roff = Vec::new();
    man.render(&mut roff)
        .expect("rendering into memory does not fail");
    pages.push((man.get_filename(), roff));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        add_pages(sub, source, pages);
    }
}
