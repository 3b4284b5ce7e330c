#!/usr/bin/env bash
# Lays out the root filesystem of one service image: the binary, exactly the shared
# libraries it links (from ldd, including the dynamic loader), CA certificates, and
# an /etc/passwd naming the unprivileged user 65532. Nothing else — no shell, no
# package manager. Used by images/build.sh (make images) and by the Dockerfile.
#
#   images/rootfs.sh BINARY OUT_DIR
set -euo pipefail
binary=$1 out=$2
rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/tmp"
chmod 1777 "$out/tmp"
install -m 0755 "$binary" "$out/usr/local/bin/cloudcord-service"
# ldd prints "name => /path (addr)" and "/lib64/ld-linux-x86-64.so.2 (addr)".
ldd "$binary" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
done
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
fi
printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/nonexistent\n' >"$out/etc/passwd"
printf 'nonroot:x:65532:\n' >"$out/etc/group"
