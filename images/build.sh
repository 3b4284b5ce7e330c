#!/usr/bin/env bash
# `make images`: one OCI image per service, built without a Docker daemon by
# Debian's buildah (vfs storage, nothing run inside the image), each written as an
# OCI archive: OUT_DIR/<service>.tar, tagged <repository>/<service>:<tag>. The `web`
# image also holds the web client's build (WEB_DIST, default web/dist) at /srv/web.
#
#   images/build.sh BIN_DIR OUT_DIR REPOSITORY TAG SERVICE...
set -euo pipefail
bin_dir=$1 out_dir=$2 repository=$3 tag=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out_dir"
# buildah's own storage, apart from the system's: the build needs no daemon and
# leaves nothing behind that another tool would find.
storage=$(mktemp -d)
trap 'buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true; rm -rf "$storage"' EXIT
bah() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs "$@"; }
for service in "$@"; do
    rootfs="$storage/rootfs-$service"
    "$here/rootfs.sh" "$bin_dir/$service" "$rootfs"
    settings=()
    if [[ $service == web ]]; then
        dist=${WEB_DIST:-$here/../web/dist}
        [[ -f $dist/index.html ]] || { echo "images: $dist has no index.html: build the web client first (make web)" >&2; exit 1; }
        mkdir -p "$rootfs/srv"
        cp -r "$dist" "$rootfs/srv/web"
        settings=(--env CLOUDCORD__WEB__DIR=/srv/web --env CLOUDCORD__WEB__LISTEN_ADDR=0.0.0.0:8080)
    fi
    container=$(bah from --quiet scratch)
    bah copy --quiet "$container" "$rootfs/" /
    bah config "${settings[@]}" \
        --user 65532:65532 \
        --workingdir / \
        --entrypoint '["/usr/local/bin/cloudcord-service"]' \
        --cmd '' \
        --env CLOUDCORD__TELEMETRY__FORMAT=json \
        --label org.opencontainers.image.title="cloudcord-$service" \
        --label org.opencontainers.image.source=https://cloudcord.dev/source \
        --label org.opencontainers.image.version="$tag" \
        "$container"
    image="$repository/$service:$tag"
    bah commit --quiet --format oci "$container" "$image" >/dev/null
    rm -f "$out_dir/$service.tar"
    bah push --quiet "$image" "oci-archive:$out_dir/$service.tar:$image"
    # vfs keeps a full copy of the binary per layer and per container: drop this
    # service's before the next, so the disk holds one service's copies at a time.
    bah rm "$container" >/dev/null
    bah rmi "$image" >/dev/null
    rm -rf "$rootfs"
    echo "images: $out_dir/$service.tar ($image)"
done
