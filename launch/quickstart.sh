#!/bin/bash
# From a fresh Debian 12 clone to a video: install the packages, build, and
# generate with the shipped default model on 2 local ranks.
#   launch/quickstart.sh ["prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
launch/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -30 build.log; exit 1; }
PROMPT=${1:-"a red circle moving right on a blue background"}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np 2 build/timeshard generate --prompt "$PROMPT" --frames 48 --out quickstart.mp4 \
    --latents quickstart.h5 --threads 1
ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames \
    -of default=nw=1 quickstart.mp4
echo "quickstart: wrote quickstart.mp4 and quickstart.h5"
