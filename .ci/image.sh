#!/usr/bin/env bash
# Build docker/Dockerfile with podman (no Docker daemon, no registry) and run the demo in it.
# The base is a Debian root file system made by mmdebstrap from Debian's packages (its python3
# is 3.11, the Python the image pins), imported into podman; the Dockerfile takes it as BASE.
# Layers and the root file system are kept in $KD_AUTOML_IMAGE_DIR between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
W="${KD_AUTOML_IMAGE_DIR:-/var/tmp/kd-automl-image}"
TAG=localhost/kd-automl:ci
if ! command -v podman >/dev/null 2>&1 || ! command -v mmdebstrap >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc mmdebstrap >/dev/null
fi
mkdir -p "$W"
# podman without systemd or a hybrid cgroup: runc on cgroupfs, the host's hard ulimits
NPROC=$(( $(ulimit -Hu) < 32768 ? $(ulimit -Hu) : 32768 ))
cat > "$W/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$W" "$W" > "$W/storage.conf"
export CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf"

if [ ! -s "$W/rootfs.tar" ]; then
    mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
        bookworm "$W/rootfs.tar.part"
    mv "$W/rootfs.tar.part" "$W/rootfs.tar"
fi
podman image exists localhost/debian-base:bookworm || podman import -q "$W/rootfs.tar" localhost/debian-base:bookworm >/dev/null

CA=/etc/ssl/certs/ca-certificates.crt
start=$(date +%s)
podman build -q --format docker --isolation=chroot --network=host -v "$CA:/host-ca.crt:ro" \
    --build-arg BASE=localhost/debian-base:bookworm \
    --build-arg PIP_CERT=/host-ca.crt --build-arg SSL_CERT_FILE=/host-ca.crt \
    -f docker/Dockerfile -t "$TAG" . >/dev/null
echo "image: built $TAG in $(( $(date +%s) - start )) s"
podman image prune -f >/dev/null  # earlier builds' layers (6 GB each)

# the demo in the image, its workspace a host folder: it must leave a leaderboard and a report
WS="$W/workspace"
rm -rf "$WS" && install -d -o 10001 -g 10001 "$WS"
podman run --rm --network=host -e OMP_NUM_THREADS=1 -v "$WS:/workspace" "$TAG" \
    kd-automl demo --trials 2 | tail -n 20
ls "$WS"/*.db >/dev/null
find "$WS" -name '*.html' | grep -q . || { echo "image: the demo left no report in $WS" >&2; exit 1; }
echo "image: the demo ran in $TAG"
