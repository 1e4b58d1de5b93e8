#!/usr/bin/env bash
# ONNX Runtime latency of full-width YOLOv3 detectors, FP32 against INT8 (and r578-pruned FP32 against
# r578 INT8), batch 1, printed as a Markdown table with the ratios, and the deployability line of every
# INT8 file (how many quantized layers ONNX Runtime runs as int8 operators). Weights are random and seeded:
# latency depends on the graph, not the values. Lowest median of ROUNDS interleaved rounds of RUNS runs.
# With align > 1 (6th argument) also r578 with channels aligned to multiples of it, against r578 as it is.
# Usage: bench/latency.sh [models=yolov3_mobilenet_v1] [sizes=320,608] [threads=1,2] [runs=25] [rounds=3] [align=1]
#   e.g. bench/latency.sh yolov3_mobilenet_v1,yolov3_mobilenet_v3_large,yolov3_resnet34 320 1
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="${1:-yolov3_mobilenet_v1}"
sizes="${2:-320,608}"
threads="${3:-1,2}"
runs="${4:-25}"
rounds="${5:-3}"
align="${6:-1}"
dotnet build -c Release "$here/Slim.Bench/Slim.Bench.csproj" -v quiet -nologo >/dev/null
dotnet "$here/Slim.Bench/bin/Release/net10.0/Slim.Bench.dll" --latency --models "$models" --sizes "$sizes" \
  --threads "$threads" --runs "$runs" --rounds "$rounds" --align "$align"
