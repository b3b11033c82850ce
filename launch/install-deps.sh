#!/bin/bash
# Installs what timeshard needs to build, run and test on Debian 12 (as root).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "install-deps.sh: run as root (it calls apt-get)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
PKGS="cmake gcc g++ make pkg-config openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
 libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg libopenblas-dev libssl-dev libjansson-dev libsentencepiece-dev
 munge slurm-wlm python3-h5py python3-numpy python3-matplotlib"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
    echo "install-deps.sh: installing:" $missing
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing > /tmp/timeshard-apt.log 2>&1 || {
        tail -20 /tmp/timeshard-apt.log; exit 1; }
fi
echo "install-deps.sh: all packages present"
