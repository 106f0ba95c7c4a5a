#!/usr/bin/env bash
# The main job on the bundled fixture image (README): builds coldpatch, then checks every
# database and hive of fixtures/cluster-small, shows what PRIV.EDB holds, and prints the
# Exchange store's registry key. Writes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-fixtures/cluster-small}
cargo build --release --quiet --bin coldpatch
bin=target/release/coldpatch

echo "== verify: every database and hive of $image"
mapfile -t files < <(find "$image" -type f \( -name '*.EDB' -o -name 'SYSTEM*' -o -name SOFTWARE \
  -o -name CLUSDB -o -name '*.CPT' -o -name '*.TMP' \) | sort)
"$bin" verify "${files[@]}"

priv=$(find "$image" -type f -name PRIV.EDB | head -n 1)
echo
echo "== inspect $priv"
"$bin" inspect "$priv"

system=$(find "$image" -type f -path '*/config/SYSTEM' | head -n 1)
echo
echo "== reg export $system ControlSet001\\Services\\MSExchangeIS"
"$bin" reg export --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$system" 'ControlSet001\Services\MSExchangeIS'
