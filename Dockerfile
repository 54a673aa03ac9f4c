# syntax=docker/dockerfile:1
# hf-cache-exporter image: build with the Rust toolchain, ship only the binary.
#
#   docker build -t hf-cache-exporter .
#   docker run --rm -p 10150:10150 -v ~/.cache/huggingface/hub:/cache:ro \
#       hf-cache-exporter --cache.dir=/cache
#
# The final image is distroless/static (no libc, no shell, no package manager)
# and runs as uid/gid 65534 (nobody). The exporter is the entrypoint, so
# arguments after the image name are exporter flags.

# Any Rust >= 1.85 (edition 2024, the crate's rust-version) works.
ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# A static PIE, glibc linked in (see scripts/build-static.sh): it starts without loading shared libraries,
# which is most of a one-shot scan's time on a small cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    bash scripts/build-static.sh /out/hf-cache-exporter

# The binary needs no library from the image; distroless/static still gives /etc/passwd, /etc/hosts and CA files.
FROM gcr.io/distroless/static-debian12 AS runtime
COPY --from=build /out/hf-cache-exporter /usr/local/bin/hf-cache-exporter
USER 65534:65534
EXPOSE 10150
ENTRYPOINT ["/usr/local/bin/hf-cache-exporter"]
