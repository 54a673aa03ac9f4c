#!/usr/bin/env bash
# scripts/build-static.sh [OUT]: the release binary linked statically (glibc static-pie), as the image ships it.
#
# Why: a dynamically linked run spends about 0.6 ms mapping and relocating libc, libm and libgcc_s before `main`
# (bench/startup.sh), more than scanning a 20-file cache takes. A static-pie binary keeps ASLR, needs no shared
# library at run time and starts in the time a C program does. glibc >= 2.34 has the `files` and `dns` NSS modules
# built in, so host names in --web.listen-address and /etc/passwd lookups work without loading anything; modules
# beyond those two (ldap, sss, mdns, systemd) are not available to a static binary.
#
# `+crt-static` cannot apply to proc-macros (the clap and serde derives), so the build names the host target
# explicitly: cargo then builds proc-macros and build scripts without it. Writes target/static/hf-cache-exporter,
# or OUT. Env: CARGO_TARGET_DIR as for cargo.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
*-linux-gnu*) ;;
*) echo "build-static.sh: host $host is not a glibc Linux target" >&2; exit 1 ;;
esac
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target "$host" --bin hf-cache-exporter
target_dir=${CARGO_TARGET_DIR:-target}
out=${1:-target/static/hf-cache-exporter}
install -D -m 0755 "$target_dir/$host/release/hf-cache-exporter" "$out"
echo "$out"
