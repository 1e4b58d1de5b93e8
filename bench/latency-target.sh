#!/usr/bin/env bash
# Latency-aware pruning ratios (prune.sensitivity.target_latency_reduction) on the full-width YOLOv3-MobileNetV1 at
# 320: per target, each round's predicted and measured ONNX Runtime latency reduction, as a Markdown table. Random
# seeded weights; the sensitivity curves measure how far the outputs move (no data needed). About 4 minutes on 2 cores.
# Usage: bench/latency-target.sh [targets=0.2,0.3,0.4] [threads=1] [model=yolov3_mobilenet_v1] [size=320]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dotnet build -c Release "$here/Slim.Bench/Slim.Bench.csproj" -v quiet -nologo >/dev/null
dotnet "$here/Slim.Bench/bin/Release/net10.0/Slim.Bench.dll" --latency-target --targets "${1:-0.2,0.3,0.4}" \
  --threads "${2:-1}" --model "${3:-yolov3_mobilenet_v1}" --size "${4:-320}"
