#!/usr/bin/env bash
# Download what scripts/gpu_check.sh needs on a GPU machine that has Python 3.12, torch 2.11 (CUDA 13)
# and nvcc 13 but no network: wheels for cp312 manylinux x86_64 and the mmcv 2.1.0 sdist, into one
# folder (default .whl/, ignored by git) that travels with the working tree.
#
#   scripts/gpu_check_prepare.sh [DIR]
#
# Only what that machine's image lacks (the device notes list its packages: numpy, scipy, matplotlib,
# opencv-python-headless, psutil, pyyaml, nvidia-ml-py, ninja, ... are there): the list in
# scripts/gpu_check_wheels.txt, --no-deps so that nothing else rides along.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$(realpath -m "${1:-$ROOT/.whl}")"
PYTHON="${PYTHON:-python3}"
mkdir -p "$DIR"

mapfile -t WHEELS < <(grep -v -e '^#' -e '^$' "$ROOT/scripts/gpu_check_wheels.txt")
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS+=(--platform "$p")
done
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${PLATFORMS[@]}" -d "$DIR" "${WHEELS[@]}"
# The sdist, as-is: it is compiled there, against that machine's torch, for its GPU only. pip prepares
# its metadata in an isolated env, whose setuptools must still have pkg_resources (< 81).
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo 'setuptools<81' >"$constraints"
PIP_CONSTRAINT="$constraints" "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --no-binary=:all: \
  -d "$DIR" mmcv==2.1.0
ls "$DIR"/mmcv-2.1.0.tar.gz >/dev/null
echo "gpu_check_prepare: $(ls "$DIR" | wc -l) files, $(du -sh "$DIR" | cut -f1) in $DIR"
