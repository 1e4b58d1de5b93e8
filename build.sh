#!/usr/bin/env bash
# Slim's single entry point: installs what is missing, builds (the native shim included),
# and runs the quick start or the tests. Usage: ./build.sh {quickstart|test|build|setup|bench}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD
CONFIG=${CONFIG:-Release}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Debian packages: what the toolkit needs to build and run, and the references tests compare with.
RUNTIME_PKGS=(cmake g++ make libtorch-dev libopencv-imgcodecs-dev libopencv-imgproc-dev libonnx-dev fonts-dejavu-core
              protobuf-compiler dataset-fashion-mnist libgloo-dev)
TEST_PKGS=(python3-torch python3-torchvision python3-onnx chromium)

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup() {
  apt_install "${RUNTIME_PKGS[@]}"
  if [ "${1:-}" = test ]; then apt_install "${TEST_PKGS[@]}"; fi
}

build() {
  log "building Slim ($CONFIG)"
  dotnet build Slim.sln -c "$CONFIG" -nologo -v:q -clp:ErrorsOnly
}

slim() { dotnet "$ROOT/Slim.Cli/bin/$CONFIG/net10.0/slim.dll" "$@"; }

run_tests() {
  local results=$ROOT/TestResults
  rm -rf "$results"
  set +e
  dotnet test Slim.sln -c "$CONFIG" --no-build -nologo --logger "trx" --results-directory "$results" \
    --logger "console;verbosity=normal" "$@" 2>&1 | tee "$results.log" |
    grep --line-buffered -E '^\s*Failed |Error Message|Total tests|^\s*(Passed|Failed|Skipped): |error (CS|MSB)'
  local rc=${PIPESTATUS[0]}
  set -e
  # One closing line for every runner: sum the per-assembly summaries dotnet test prints.
  local passed failed skipped
  passed=$(awk '{ if (match($0, /Passed: +[0-9]+/)) { split(substr($0, RSTART, RLENGTH), a, / +/); s += a[2] } } END { print s + 0 }' "$results.log")
  failed=$(awk '{ if (match($0, /Failed: +[0-9]+/)) { split(substr($0, RSTART, RLENGTH), a, / +/); s += a[2] } } END { print s + 0 }' "$results.log")
  skipped=$(awk '{ if (match($0, /Skipped: +[0-9]+/)) { split(substr($0, RSTART, RLENGTH), a, / +/); s += a[2] } } END { print s + 0 }' "$results.log")
  echo "$passed passed, $failed failed, $skipped skipped"
  if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then return 1; fi
  # A skipped test lacked a reference it compares with (a dataset, python3-torch): setup installs them all, so a skip
  # means the set-up is broken, and a green run would hide an untested feature.
  if [ "$skipped" -ne 0 ]; then
    grep -E '^\s*Skipped ' "$results.log" >&2 || true
    echo "error: $skipped test(s) skipped for a missing reference; install it (./build.sh setup) and run again" >&2
    return 1
  fi
}

case "${1:-help}" in
  setup) setup test ;;
  build) setup; build ;;
  test) shift; setup test; build; run_tests "$@" ;;
  # --resume makes a second run print the finished report instead of refusing the folder.
  quickstart) shift; setup; build; slim run recipes/quickstart.yml --out "${SLIM_RUN_DIR:-runs/quickstart}" --resume "$@" ;;
  bench) shift; setup test; build
    case "${1:-step}" in
      step) bash bench/run.sh ;;
      latency) shift; bash bench/latency.sh "$@" ;;
      latency-target) shift; bash bench/latency-target.sh "$@" ;;
      distributed) shift; bash bench/distributed.sh "$@" ;;
      zoo-mini) shift; bash bench/zoo-mini.sh "$@" ;;
      *) echo "usage: ./build.sh bench [step|latency [models sizes threads runs rounds]|latency-target [targets threads]|distributed [iterations processes threads]|zoo-mini [out seeds]]" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: ./build.sh {quickstart|test|build|setup|bench [step|latency|latency-target|distributed|zoo-mini]}" >&2; exit 2 ;;
esac
