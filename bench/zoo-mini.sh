#!/usr/bin/env bash
# The mini zoo: a small-scale rerun of the PaddleDetection / PaddleSlim / PaddleX model-zoo tables on the offline
# data (recipes/zoo-mini/), each row for every seed, then the table in the zoo's layout and the orderings the zoo
# shows (distillation lifts a student; distilled pruning recovers what pruning lost; sensity loses less than r578;
# aware quantization loses no more than post-training), each with the spread between seeds.
#   Detection: YOLOv3-MobileNetV1 x0.25, 160 px, 4,000 generated training images; every student starts from the
#   backbone of a MobileNetV1 x0.25 trained on Fashion-MNIST (trained once, as the zoo's students start from ImageNet
#   weights); teacher YOLOv3-ResNet34 x0.25 trained once, from the backbone of a ResNet34 x0.25 trained on
#   Fashion-MNIST (the zoo's teachers start from ImageNet weights too).
#   Classification: MobileNetV1 / MobileNetV2 / ResNet50 x0.5 at 32 px on Fashion-MNIST (Debian's package).
# Every run is an ordinary `slim run` of a recipe there; a finished row is skipped, an interrupted one resumed, so
# the script can be stopped and started again. About 40 minutes on 2 cores for 2 seeds (after ./build.sh build,
# measured from a fresh clone on one 2-core machine).
# Usage: bench/zoo-mini.sh [OUT_DIR=runs/zoo-mini] [SEEDS=1,2]        (or ./build.sh bench zoo-mini)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/runs/zoo-mini}" && cd "${1:-$ROOT/runs/zoo-mini}" && pwd)"
IFS=',' read -r -a SEEDS <<< "${2:-1,2}"
R=recipes/zoo-mini
slim() { dotnet "$ROOT/Slim.Cli/bin/Release/net10.0/slim.dll" "$@"; }
cd "$ROOT"
start=$(date +%s)

# run FOLDER RECIPE [slim run options...]: one row's run, its output in OUT/FOLDER.log, skipped once report.json exists.
run() {
  local dir="$OUT/$1"; shift
  [[ -f "$dir/report.json" ]] && return 0
  mkdir -p "$(dirname "$dir")"
  printf '%s  %-34s (%d min so far)\n' "$(date +%T)" "${dir#"$OUT"/}" $(( ($(date +%s) - start) / 60 ))
  local t0; t0=$(date +%s)
  if ! slim run "$@" --out "$dir" --resume > "$dir.log" 2>&1; then
    echo "zoo-mini: ${dir#"$OUT"/} failed; the end of $dir.log:" >&2
    tail -n 5 "$dir.log" >&2
    return 1
  fi
  printf '%s\t%d\n' "${dir#"$OUT"/}" $(( $(date +%s) - t0 )) >> "$OUT/times.tsv"
}

# The two backbones are 1-thread runs: side by side (their figures do not depend on it).
run backbone_resnet34 "$R/resnet34_backbone.yml" -o seed=1 &
first=$!
run backbone "$R/mobilenet_v1_backbone.yml" -o seed=1 &
second=$!
wait "$first"; wait "$second"
run teacher "$R/yolov3_resnet34_teacher.yml" -o seed=1 \
  -o model.pretrained="$OUT/backbone_resnet34/stages/00_train/best.ckpt" -o model.pretrained_backbone_only=true
teacher="$OUT/teacher/stages/00_train/best.ckpt"
pretrained=(-o model.pretrained="$OUT/backbone/stages/00_train/best.ckpt" -o model.pretrained_backbone_only=true)

for s in "${SEEDS[@]}"; do
  d="seed-$s"
  run "$d/baseline" "$R/yolov3_mobilenet_v1.yml" -o seed="$s" "${pretrained[@]}"
  base="$OUT/$d/baseline/stages/00_train/best.ckpt"
  run "$d/split_distill" "$R/distill_split.yml" -o seed="$s" -o stages.0.distill.teacher="$teacher" "${pretrained[@]}"
  run "$d/l2_distill" "$R/distill_l2.yml" -o seed="$s" -o stages.0.distill.teacher="$teacher" "${pretrained[@]}"
  run "$d/baseline_continued" "$R/continue_training.yml" -o seed="$s" -o model.checkpoint="$base"
  run "$d/r578" "$R/prune_r578.yml" -o seed="$s" -o model.checkpoint="$base"
  run "$d/sensity" "$R/prune_sensity.yml" -o seed="$s" -o model.checkpoint="$base"
  run "$d/r578_distill_baseline" "$R/prune_r578_distill_l2.yml" -o seed="$s" -o model.checkpoint="$base" \
    -o stages.0.prune.distill.teacher="$OUT/$d/baseline_continued/stages/00_train/best.ckpt"
  run "$d/r578_distill_resnet34" "$R/prune_r578_distill_l2.yml" -o seed="$s" -o model.checkpoint="$base" \
    -o stages.0.prune.distill.teacher="$teacher"
  for algo in abs_max avg hist kl mse; do
    run "$d/post_$algo" "$R/quant_post.yml" -o seed="$s" -o model.checkpoint="$base" -o stages.0.quant.algo="$algo"
  done
  run "$d/aware" "$R/quant_aware.yml" -o seed="$s" -o model.checkpoint="$base"
  # Classification: 1-thread runs, two side by side.
  ( run "$d/mobilenet_v1" "$R/mobilenet_v1_fashion_mnist.yml" -o seed="$s"
    mbv1="$OUT/$d/mobilenet_v1/stages/00_train/best.ckpt"
    run "$d/mobilenet_v1_prune30" "$R/mobilenet_v1_prune.yml" -o seed="$s" -o model.checkpoint="$mbv1"
    run "$d/mobilenet_v1_prune50" "$R/mobilenet_v1_prune.yml" -o seed="$s" -o model.checkpoint="$mbv1" \
      -o stages.0.prune.pruned_ratios=flops:0.5
    run "$d/mobilenet_v1_quant" "$R/mobilenet_v1_quant.yml" -o seed="$s" -o model.checkpoint="$mbv1" ) &
  first=$!
  ( run "$d/mobilenet_v2_quant" "$R/mobilenet_v2_fashion_mnist_quant.yml" -o seed="$s"
    run "$d/resnet50_quant" "$R/resnet50_fashion_mnist_quant.yml" -o seed="$s" ) &
  second=$!
  wait "$first"; wait "$second"
done

# The table: section, folder (relative to seed-N), stage of its report, reference row (folder@stage), strategy, budget.
B=1000 F=1000 T=1600 Q=300 C=600 CF=300 C50=400 P=1500
tab=$'\t'
cat > "$OUT/rows.tsv" <<ROWS
# section${tab}folder${tab}stage${tab}reference${tab}strategy${tab}training budget
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}baseline${tab}first${tab}baseline@first${tab}baseline (from the pretrained backbone)${tab}$B it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}baseline_continued${tab}first${tab}baseline@first${tab}baseline trained on (unpruned; the prune rows' budget)${tab}$B + $F it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}r578${tab}last${tab}baseline@first${tab}prune r578${tab}$B + $F it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}sensity${tab}last${tab}baseline@first${tab}prune sensity${tab}$B + $F it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}r578${tab}pruned${tab}baseline@first${tab}prune r578, right after pruning (before its fine-tune)${tab}$B it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}sensity${tab}pruned${tab}baseline@first${tab}prune sensity, right after pruning (before its fine-tune)${tab}$B it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}r578_distill_baseline${tab}last${tab}baseline@first${tab}r578 + l2_distill (teacher: the baseline trained on, objectness mask)${tab}$B + $F it (teacher $B + $F)
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}r578_distill_resnet34${tab}last${tab}baseline@first${tab}r578 + l2_distill (ResNet34 teacher, objectness mask)${tab}$B + $F it (teacher $T)
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}split_distill${tab}last${tab}baseline@first${tab}split_distill (ResNet34 teacher)${tab}$B it (teacher $T)
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}l2_distill${tab}last${tab}baseline@first${tab}l2_distill (ResNet34 teacher)${tab}$B it (teacher $T)
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}post_abs_max${tab}int8${tab}baseline@first${tab}INT8 post abs_max${tab}$B it + 10 batches
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}post_avg${tab}int8${tab}baseline@first${tab}INT8 post avg${tab}$B it + 10 batches
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}post_hist${tab}int8${tab}baseline@first${tab}INT8 post hist${tab}$B it + 10 batches
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}post_kl${tab}int8${tab}baseline@first${tab}INT8 post kl${tab}$B it + 10 batches
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}post_mse${tab}int8${tab}baseline@first${tab}INT8 post mse${tab}$B it + 10 batches
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}aware${tab}int8${tab}baseline@first${tab}INT8 aware${tab}$B + $Q it
YOLOv3-MobileNetV1 x0.25, 160 px, backbone pretrained${tab}../teacher${tab}first${tab}../teacher@first${tab}teacher: YOLOv3-ResNet34 x0.25, backbone pretrained (seed 1, shared)${tab}$T it
Fashion-MNIST, 32 px${tab}mobilenet_v1${tab}first${tab}mobilenet_v1@first${tab}MobileNetV1 x0.5${tab}$C it
Fashion-MNIST, 32 px${tab}mobilenet_v1_prune30${tab}last${tab}mobilenet_v1@first${tab}MobileNetV1 −30 % GFLOPs${tab}$C + $CF it
Fashion-MNIST, 32 px${tab}mobilenet_v1_prune50${tab}last${tab}mobilenet_v1@first${tab}MobileNetV1 −50 % GFLOPs${tab}$C + $CF it
Fashion-MNIST, 32 px${tab}mobilenet_v1_quant${tab}int8${tab}mobilenet_v1@first${tab}MobileNetV1 INT8 post hist${tab}$C it + 16 batches
Fashion-MNIST, 32 px${tab}mobilenet_v2_quant${tab}first${tab}mobilenet_v2_quant@first${tab}MobileNetV2 x0.5${tab}$C it
Fashion-MNIST, 32 px${tab}mobilenet_v2_quant${tab}int8${tab}mobilenet_v2_quant@first${tab}MobileNetV2 INT8 post hist${tab}$C it + 16 batches
Fashion-MNIST, 32 px${tab}resnet50_quant${tab}first${tab}resnet50_quant@first${tab}ResNet50 x0.5${tab}$C50 it
Fashion-MNIST, 32 px${tab}resnet50_quant${tab}int8${tab}resnet50_quant@first${tab}ResNet50 INT8 post hist${tab}$C50 it + 16 batches
Fashion-MNIST, 32 px${tab}../backbone_resnet34${tab}first${tab}../backbone_resnet34@first${tab}ResNet34 x0.25, RGB: the teacher's pretrained backbone (seed 1, shared)${tab}$P it
Fashion-MNIST, 32 px${tab}../backbone${tab}first${tab}../backbone@first${tab}MobileNetV1 x0.25, RGB: the detection students' pretrained backbone (seed 1, shared)${tab}$P it
ROWS
posts="post_abs_max@int8,post_avg@int8,post_hist@int8,post_kl@int8,post_mse@int8"
cat > "$OUT/orderings.tsv" <<ORD
split_distill@last${tab}baseline@first${tab}holds${tab}split_distill > baseline (unpruned student)
l2_distill@last${tab}baseline@first${tab}holds${tab}l2_distill > baseline (unpruned student)
r578_distill_baseline@last${tab}r578@last${tab}holds${tab}r578 + l2_distill (teacher: the baseline trained on) > r578
r578_distill_resnet34@last${tab}r578@last${tab}holds${tab}r578 + l2_distill (ResNet34 teacher) > r578
sensity@last${tab}r578@last${tab}holds${tab}sensity > r578 (same fine-tune)
sensity@pruned${tab}r578@pruned${tab}holds${tab}sensity > r578 right after pruning (no fine-tune)
baseline_continued@first${tab}r578@last${tab}holds${tab}unpruned > r578 (same budget)
aware@int8${tab}best:$posts${tab}not_below${tab}aware ≥ best post ({B})
ORD
dotnet build -c Release "$ROOT/bench/Slim.Bench/Slim.Bench.csproj" -v quiet -nologo > /dev/null
dotnet "$ROOT/bench/Slim.Bench/bin/Release/net10.0/Slim.Bench.dll" --zoo-mini "$OUT" --seeds "$(IFS=,; echo "${SEEDS[*]}")"
total=$(awk -F'\t' '{ s += $2 } END { print s + 0 }' "$OUT/times.tsv")
echo
echo "zoo-mini: this invocation $(( ($(date +%s) - start) / 60 )) min; all rows $(( total / 60 )) min $(( total % 60 )) s of runs" \
  "(the two classification runs of a seed side by side count both) on $(nproc) cores; table in $OUT/table.md, times in $OUT/times.tsv"
