//! `coldpatch completions bash|zsh|fish`: each script loads in its real shell without a word
//! on stderr and completes the verbs. The verbs expected come from the clap definitions, so a
//! new verb is checked without touching this file. bash, zsh and fish are installed by
//! scripts/test.sh.

use clap::{CommandFactory, ValueEnum};
use coldpatch::cli::{Cli, CompletionShell};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The script `coldpatch completions SHELL` prints (exit 0, nothing on stderr).
fn script(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_coldpatch"))
        .args(["completions", shell])
        .output()
        .expect("run coldpatch");
    assert_eq!(
        out.status.code(),
        Some(0),
        "completions {shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "completions {shell} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("the script is UTF-8");
    assert!(!text.trim().is_empty(), "completions {shell}: empty script");
    text
}

/// The script saved in a fresh directory, which also serves as the shell's home.
fn saved(shell: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("coldpatch.{shell}"));
    std::fs::write(&path, script(shell)).expect("write the script");
    (dir, path)
}

/// Runs a shell with its home and configuration under `home` (no user files read or written).
fn run_shell(home: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("HOME", home)
        .env("ZDOTDIR", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (scripts/test.sh installs it)");
        })
}

fn assert_clean(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{what}: {}, stderr: {stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The verbs, from the clap definitions.
fn verbs() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

/// The sub-verbs of `reg`, from the clap definitions.
fn reg_verbs() -> Vec<String> {
    Cli::command()
        .find_subcommand("reg")
        .expect("the reg verb")
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn shells() -> Vec<String> {
    CompletionShell::value_variants()
        .iter()
        .map(|s| {
            s.to_possible_value()
                .expect("a shell name")
                .get_name()
                .to_string()
        })
        .collect()
}

fn assert_names_all(text: &str, names: &[String], what: &str) {
    for name in names {
        assert!(
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .any(|w| w == name),
            "{what}: no {name:?} in\n{text}"
        );
    }
}

/// Completion candidates bash's completion function offers for `words` (the last one the
/// word being completed).
fn bash_candidates(script: &Path, home: &Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source \"$1\" || exit 1\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _coldpatch coldpatch '{current}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let out = run_shell(
        home,
        "bash",
        &[
            "--norc",
            "--noprofile",
            "-c",
            &program,
            "bash",
            script.to_str().expect("UTF-8 path"),
        ],
    );
    assert_clean(&out, &format!("bash completing {line:?}"))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_script_loads_and_completes_the_verbs() {
    let (dir, path) = saved("bash");
    let file = path.to_str().expect("UTF-8 path");
    let out = run_shell(
        dir.path(),
        "bash",
        &[
            "--norc",
            "--noprofile",
            "-c",
            "source \"$1\" && complete -p coldpatch",
            "bash",
            file,
        ],
    );
    let defined = assert_clean(&out, "bash: source the script, then complete -p coldpatch");
    assert!(
        defined.contains("coldpatch"),
        "complete -p coldpatch: {defined}"
    );

    let verbs_offered = bash_candidates(&path, dir.path(), &["coldpatch", ""]);
    for verb in verbs() {
        assert!(
            verbs_offered.contains(&verb),
            "bash offers {verbs_offered:?} after `coldpatch `, not {verb:?}"
        );
    }
    let reg_offered = bash_candidates(&path, dir.path(), &["coldpatch", "reg", ""]);
    for verb in reg_verbs() {
        assert!(
            reg_offered.contains(&verb),
            "bash offers {reg_offered:?} after `coldpatch reg `, not {verb:?}"
        );
    }
    let shells_offered = bash_candidates(&path, dir.path(), &["coldpatch", "completions", ""]);
    for shell in shells() {
        assert!(
            shells_offered.contains(&shell),
            "bash offers {shells_offered:?} after `coldpatch completions `, not {shell:?}"
        );
    }
}

#[test]
fn zsh_script_loads_and_names_the_verbs() {
    let (dir, path) = saved("zsh");
    let text = std::fs::read_to_string(&path).expect("read the script");
    assert!(
        text.starts_with("#compdef coldpatch"),
        "zsh script header: {}",
        text.lines().next().unwrap_or("")
    );
    assert_names_all(&text, &verbs(), "zsh script");
    assert_names_all(&text, &reg_verbs(), "zsh script");
    assert_names_all(&text, &shells(), "zsh script");

    let out = run_shell(
        dir.path(),
        "zsh",
        &[
            "-f",
            "-c",
            "autoload -Uz compinit && compinit -u -D && source \"$1\" && print -r -- $_comps[coldpatch]",
            "zsh",
            path.to_str().expect("UTF-8 path"),
        ],
    );
    let function = assert_clean(&out, "zsh: compinit, then source the script");
    assert_eq!(
        function.trim(),
        "_coldpatch",
        "zsh completion for coldpatch"
    );
}

#[test]
fn fish_script_loads_and_completes_the_verbs() {
    let (dir, path) = saved("fish");
    let file = path.to_str().expect("UTF-8 path");
    let text = std::fs::read_to_string(&path).expect("read the script");
    assert_names_all(&text, &verbs(), "fish script");
    assert_names_all(&text, &reg_verbs(), "fish script");

    let complete = |line: &str| -> Vec<String> {
        let program = format!("source '{file}'; and complete -C '{line}'");
        let out = run_shell(dir.path(), "fish", &["--no-config", "-c", &program]);
        assert_clean(&out, &format!("fish: source the script, complete {line:?}"))
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    let offered = complete("coldpatch ");
    for verb in verbs() {
        assert!(
            offered.contains(&verb),
            "fish offers {offered:?} after `coldpatch `, not {verb:?}"
        );
    }
    let offered = complete("coldpatch reg ");
    for verb in reg_verbs() {
        assert!(
            offered.contains(&verb),
            "fish offers {offered:?} after `coldpatch reg `, not {verb:?}"
        );
    }
}
