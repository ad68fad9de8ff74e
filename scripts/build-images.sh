#!/usr/bin/env bash
# Builds the sample-server images mcp-example:1.0.0 and tool-example:1.0.0 (also tagged
# :latest) into the local Docker engine.
#
# No registry or base image is reachable here, so each image is FROM scratch: the binaries are
# built on the host as static executables and only they (with their Dockerfile) are sent as
# the build context.
#
# Usage: scripts/build-images.sh [--if-missing]
#   --if-missing  do nothing when both :1.0.0 images exist and were built from the current
#                 sources (a label holds a hash of sample-servers/ and Cargo.lock), so a stale
#                 image left on a machine is rebuilt; cheap to call from tests
# Honours CARGO_TARGET_DIR (default: <repo>/target) and DOCKER (default: docker).
set -euo pipefail

readonly VERSION=1.0.0 # keep in step with the crates' `version`
readonly SERVERS=(mcp-example tool-example)
readonly TARGET=x86_64-unknown-linux-gnu
DOCKER=${DOCKER:-docker}

if_missing=false
for arg in "$@"; do
    case "$arg" in
        --if-missing) if_missing=true ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-images.sh: unknown argument '$arg' (expected --if-missing or --help)" >&2
            exit 2
            ;;
    esac
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

# What the images are built from; stored as a label so --if-missing can tell a stale image.
source_hash=$(find sample-servers Cargo.lock scripts/build-images.sh -type f -not -path '*/target/*' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
readonly LABEL=dev.mcp-gateway.source-hash

if $if_missing; then
    missing=()
    for server in "${SERVERS[@]}"; do
        built_from=$("$DOCKER" image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$server:$VERSION" 2>/dev/null || true)
        if [ "$built_from" != "$source_hash" ]; then
            missing+=("$server:$VERSION")
        fi
    done
    if ((${#missing[@]} == 0)); then
        echo "images already present: ${SERVERS[*]/%/:$VERSION}; nothing to build"
        exit 0
    fi
    echo "missing or stale images: ${missing[*]}; building"
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo_root/target}
# crt-static gives a static-pie executable that runs in an empty image. --target keeps the
# flag away from build scripts and proc-macros, which must stay dynamically linked.
packages=()
for server in "${SERVERS[@]}"; do packages+=(-p "$server"); done
echo "building static binaries (${SERVERS[*]}) into $CARGO_TARGET_DIR"
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
    cargo build --release --target "$TARGET" "${packages[@]}"

context=$(mktemp -d "${TMPDIR:-/tmp}/mcp-gateway-images.XXXXXX")
trap 'rm -rf "$context"' EXIT

for server in "${SERVERS[@]}"; do
    dir="$context/$server"
    mkdir -p "$dir"
    cp "$CARGO_TARGET_DIR/$TARGET/release/$server" "$dir/$server"
    cp "sample-servers/$server/Dockerfile" "$dir/Dockerfile"
    echo "docker build $server:$VERSION"
    "$DOCKER" build --quiet --label "$LABEL=$source_hash" \
        -t "$server:$VERSION" -t "$server:latest" "$dir" >/dev/null
done

echo "built:"
for server in "${SERVERS[@]}"; do
    "$DOCKER" image ls "$server:$VERSION" --format '  {{.Repository}}:{{.Tag}} (and :latest)  id {{.ID}}  size {{.Size}}'
done
