#!/usr/bin/env bash
# Times one training step of the MobileNet-like stack in C# (Slim) and in PyTorch
# (/usr/bin/python3, Debian's python3-torch) with the same thread count, and prints the
# ratio C#/Python. The two run alternately, ROUNDS times each, and each side's best
# median counts, so a burst of load from elsewhere on the machine hurts neither side alone.
# Besides wall time it reports CPU time per step (less disturbed when other processes share
# the cores) and the per-operator overhead of each binding on tiny tensors.
# Usage: bench/run.sh [threads=2] [steps=20] [rounds=2]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
threads="${1:-2}"
steps="${2:-20}"
rounds="${3:-2}"

dotnet build -c Release "$here/Slim.Bench/Slim.Bench.csproj" -v quiet -nologo >/dev/null
bench_dll="$here/Slim.Bench/bin/Release/net10.0/Slim.Bench.dll"

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }
cs_wall="" cs_cpu="" cs_op="" py_wall="" py_cpu="" py_op="" pm_wall="" pm_cpu=""
for ((r = 1; r <= rounds; r++)); do
  cs=$(dotnet "$bench_dll" --threads "$threads" --steps "$steps")
  py=$(/usr/bin/python3 "$here/step_torch.py" --threads "$threads" --steps "$steps")
  # Python again with the malloc settings Slim applies at load (NativeMethods.RetainFreedMemory).
  pm=$(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647 \
       /usr/bin/python3 "$here/step_torch.py" --threads "$threads" --steps "$steps")
  echo "round $r: $cs" >&2
  echo "round $r: $py" >&2
  echo "round $r (malloc as Slim): $pm" >&2
  pm_wall=$(min "$(field median_ms <<<"$pm")" "$pm_wall"); pm_cpu=$(min "$(field cpu_median_ms <<<"$pm")" "$pm_cpu")
  cs_wall=$(min "$(field median_ms <<<"$cs")" "$cs_wall"); py_wall=$(min "$(field median_ms <<<"$py")" "$py_wall")
  cs_cpu=$(min "$(field cpu_median_ms <<<"$cs")" "$cs_cpu"); py_cpu=$(min "$(field cpu_median_ms <<<"$py")" "$py_cpu")
  cs_op=$(min "$(field op_us <<<"$cs")" "$cs_op"); py_op=$(min "$(field op_us <<<"$py")" "$py_op")
done

printf '%-44s %10s %10s %8s\n' "measure ($threads threads, best of $rounds medians)" "C#" "Python" "C#/Py"
row() { awk -v n="$1" -v c="$2" -v p="$3" 'BEGIN { printf "%-44s %10.2f %10.2f %8.3f\n", n, c, p, c / p }'; }
row "train step, batch 8x3x160x160: wall ms" "$cs_wall" "$py_wall"
row "train step, batch 8x3x160x160: CPU ms" "$cs_cpu" "$py_cpu"
row "one op on a 4-element tensor: us" "$cs_op" "$py_op"
row "train step wall ms, Python malloc as Slim" "$cs_wall" "$pm_wall"
row "train step CPU ms, Python malloc as Slim" "$cs_cpu" "$pm_cpu"
