#!/usr/bin/env bash
# The README's screenshot of the case file: runs the main job (scripts/demo.sh) on
# fixtures/cluster-small into a new temporary directory, then renders its report.html in
# headless Chromium (Debian's chromium) to docs/case-file.png. Reproducible input: the demo's
# fixed seed and SOURCE_DATE_EPOCH.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d "${TMPDIR:-/tmp}/coldpatch-case.XXXXXX")
./scripts/demo.sh fixtures/cluster-small "$out" >/dev/null
profile=$(mktemp -d "${TMPDIR:-/tmp}/coldpatch-chromium.XXXXXX")
mkdir -p docs
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --window-size=1100,1500 --user-data-dir="$profile" --screenshot="$PWD/docs/case-file.png" \
  "file://$out/patched/report.html" 2>/dev/null
rm -rf "$profile"
echo "docs/case-file.png from $out/patched/report.html"
