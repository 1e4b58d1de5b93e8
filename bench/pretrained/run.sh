#!/usr/bin/env bash
# Does a backbone pretrained on classification help the detector? Trains the classifier of classifier.yml, then the
# detector of detector.yml twice, from random weights and from the classifier's backbone, and prints both mAPs.
# About 8 minutes on 2 cores. Usage: bench/pretrained/run.sh [OUT_DIR]   (after ./build.sh build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/runs/bench-pretrained}"
slim() { dotnet "$ROOT/Slim.Cli/bin/Release/net10.0/slim.dll" "$@"; }
cd "$ROOT"
slim train bench/pretrained/classifier.yml --out "$OUT/classifier" --resume | tail -1
slim train bench/pretrained/detector.yml --out "$OUT/random" --resume | tail -1
slim train bench/pretrained/detector.yml --out "$OUT/pretrained" --resume \
  -o model.pretrained="$OUT/classifier/best.ckpt" -o model.pretrained_backbone_only=true | tail -1
