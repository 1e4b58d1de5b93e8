#!/usr/bin/env bash
# Data-parallel throughput of the quick start's baseline training on this host: 1 process × T threads against
# P processes × T/P threads (slim train --nproc-per-node P, Gloo over loopback), the same global batch, and
# 1 process × T/P threads (one worker's share of the cores, alone): P workers should beat it by up to P.
# Each configuration trains N and 2N iterations; the difference of the two wall times is the time of N
# iterations without start-up, data generation and the final evaluation, so images/s = N·batch / Δt.
# Usage: bench/distributed.sh [iterations=60] [processes=2] [threads=2]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-60}"
procs="${2:-2}"
threads="${3:-2}"
slim() { dotnet "$root/Slim.Cli/bin/Release/net10.0/slim.dll" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
recipe="$root/recipes/quickstart.yml"
batch=$(sed -n 's/^  batch_size: *\([0-9]*\).*/\1/p' "$recipe" | head -1)
common=(-o train.eval_interval=0 -o dataset.root="$work/data")
slim recipe check "$recipe" --data "${common[@]}" >/dev/null  # generates the sample data once

seconds() { # label, iterations, extra arguments…
  local label=$1 its=$2; shift 2
  local out="$work/$label-$its" start end
  start=$(date +%s.%N)
  slim train "$recipe" "${common[@]}" -o train.iterations="$its" --out "$out" "$@" >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
rate() { awk -v t1="$1" -v t2="$2" -v n="$n" -v b="$batch" 'BEGIN { printf "%.1f", n * b / (t2 - t1) }'; }

one_a=$(seconds one "$n" -o threads="$threads")
one_b=$(seconds one $((2 * n)) -o threads="$threads")
per=$(( threads / procs > 0 ? threads / procs : 1 ))
dp_a=$(seconds dp "$n" -o threads="$per" --nproc-per-node "$procs" --master-port 29517)
dp_b=$(seconds dp $((2 * n)) -o threads="$per" --nproc-per-node "$procs" --master-port 29518)
small_a=$(seconds small "$n" -o threads="$per")
small_b=$(seconds small $((2 * n)) -o threads="$per")
r1=$(rate "$one_a" "$one_b")
rp=$(rate "$dp_a" "$dp_b")
rs=$(rate "$small_a" "$small_b")
printf '%-46s %12s %12s\n' "quick-start training, batch $batch, $n iterations" "images/s" "vs 1 process"
printf '%-46s %12s %12s\n' "1 process × $threads threads" "$r1" "1.00"
printf '%-46s %12s %12s\n' "$procs processes × $per thread(s) (Gloo, loopback)" "$rp" "$(awk -v a="$rp" -v b="$r1" 'BEGIN { printf "%.2f", a / b }')"
printf '%-46s %12s %12s\n' "1 process × $per thread(s) (what each worker has)" "$rs" "$(awk -v a="$rs" -v b="$r1" 'BEGIN { printf "%.2f", a / b }')"
