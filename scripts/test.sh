#!/usr/bin/env bash
# The test command (README): installs what the tests need when it is missing, then runs
# formatting and lint checks and the whole test suite. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Independent readers the tests check our writes with, the shells the completion scripts are
# loaded in (tests/cli_completions.rs; bash's ulimit -f also sets tools/tests/hardening.rs's
# file size limit), and man and groff, which format the man pages
# (tools/tests/man_pages.rs), and Chromium, which renders the case file to a PNG
# (tools/tests/report.rs).
apt_packages=(libesedb-utils python3-libesedb libhivex-bin libwin-hivex-perl libregf-utils zstd
  bash zsh fish man-db groff-base chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python readers (PyPI), for the python3 on PATH that the tests call; html5lib and Pillow check
# the case file's HTML and its screenshot.
python=${PYTHON:-python3}
if ! "$python" -c 'import dissect.esedb, dissect.regf, regipy, html5lib, PIL' 2>/dev/null; then
  echo "test.sh: installing Python packages: dissect.esedb dissect.regf regipy html5lib pillow" >&2
  "$python" -m pip install -q dissect.esedb dissect.regf regipy html5lib pillow
fi

# The shared samples must sit beside the checkout (../shared).
if [ ! -d ../shared/samples ]; then
  echo "test.sh: ../shared/samples not found beside the checkout" >&2
  exit 2
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet
# The pass runs its census on the hashing threads on two cores and on threads of its own from
# three (src/patch/stream.rs, Layout): the end-to-end patch tests again in each layout, whatever
# this machine chooses by itself.
for layout in own shared; do
  COLDPATCH_CENSUS_THREADS=$layout cargo test --quiet -p coldpatch-tools --test patch
done
