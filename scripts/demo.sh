#!/usr/bin/env bash
# The main job on the bundled fixture image (README): builds coldpatch, inspects
# fixtures/cluster-small (a restored Exchange 5.5 cluster), plans the patch, applies it into a
# new output directory, and checks the result with sha256sum -c. The image is only read.
# Reproducible: a fixed seed and SOURCE_DATE_EPOCH give the same bytes on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-fixtures/cluster-small}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/coldpatch-demo.XXXXXX")}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
cargo build --release --quiet --bin coldpatch
bin=target/release/coldpatch

echo "== coldpatch inspect $image"
"$bin" inspect "$image"

echo
echo "== coldpatch plan $image --seed demo --out $out/plan.json"
mkdir -p "$out"
"$bin" plan "$image" --seed demo --out "$out/plan.json"

echo
echo "== coldpatch apply $image --plan $out/plan.json --out $out/patched"
"$bin" apply "$image" --plan "$out/plan.json" --out "$out/patched"

echo
echo "== sha256sum -c: the outputs, then the inputs as the run read them"
(cd "$out/patched" && sha256sum -c SHA256SUMS)
inputs=$(realpath "$out/patched/SHA256SUMS.input")
(cd "$image" && sha256sum -c "$inputs")

echo
echo "== coldpatch inspect of the image with the outputs laid over it"
overlay=$out/overlay
cp -r "$image" "$overlay"
(cd "$out/patched" && while read -r _ f; do cp "$f" "$overlay/$f"; done < SHA256SUMS)
"$bin" inspect "$overlay" | tail -n 1
echo
echo "Output: $out/patched (report.html, report.json, audit.jsonl.zst, SHA256SUMS, SHA256SUMS.input)"
