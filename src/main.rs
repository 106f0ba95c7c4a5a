//! The `coldpatch` command: parse, run, exit with the contract's code.

fn main() {
    std::process::exit(coldpatch::cli::main());
}
