#!/usr/bin/env bash
# Builds the images of real stdio MCP servers the stdio tests deploy, with no registry:
#   mcp-gateway-test/debian:bookworm   a Debian base made by debootstrap from Debian's packages
#                                      (python3, venv, git, tzdata, CA certificates), docker import
#   mcp-server-time:test               the official reference server, from its PyPI wheel
#   mcp-server-git:test                the same, with a small git repository at /repo
#
# Python servers are installed from wheels downloaded on the host (`pip download`, pinned below)
# and installed in the image with `pip install --no-index`: the build itself reaches nothing.
# Each image carries a label with a hash of what it is built from (this script, which holds the
# pins), so --if-missing rebuilds a stale one and skips a current one.
#
# Usage: scripts/build-stdio-images.sh [--if-missing]
# Needs root for debootstrap (installed with apt-get when missing). Honours DOCKER (default docker).
set -euo pipefail

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
readonly PACKAGES=python3,python3-venv,ca-certificates,git,tzdata
readonly BASE=mcp-gateway-test/debian:bookworm
readonly TIME_PIN="mcp-server-time==2026.10.19"
readonly GIT_PIN="mcp-server-git==2026.10.19"
readonly LABEL=dev.mcp-gateway.source-hash
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
            echo "build-stdio-images.sh: unknown argument '$arg'" >&2
            exit 2
            ;;
    esac
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
hash=$(sha256sum scripts/build-stdio-images.sh | cut -c1-16)

current() { # current IMAGE: built from this script's content
    [ "$("$DOCKER" image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true)" = "$hash" ]
}

if $if_missing && current "$BASE" && current mcp-server-time:test && current mcp-server-git:test; then
    echo "stdio images present: $BASE mcp-server-time:test mcp-server-git:test; nothing to build"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-gateway-stdio-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! current "$BASE"; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing debootstrap (apt-get)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
        else
            echo "build-stdio-images.sh: debootstrap is missing and cannot be installed (needs root and apt-get)" >&2
            exit 1
        fi
    fi
    echo "debootstrap $SUITE ($PACKAGES): a few minutes"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        exit 1
    }
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
    tar -C "$work/root" -c . | "$DOCKER" import --change "LABEL $LABEL=$hash" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE" >/dev/null
    rm -rf "$work/root"
fi

# Wheels for CPython 3.11 (bookworm's) on x86-64, fetched on the host.
for pin in "$TIME_PIN" "$GIT_PIN"; do
    server=${pin%%==*}
    dir="$work/$server"
    mkdir -p "$dir/wheels"
    pip download --quiet --disable-pip-version-check -d "$dir/wheels" "$pin" \
        --python-version 3.11 --only-binary=:all: --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --implementation cp
done

cat >"$work/mcp-server-time/Dockerfile" <<EOF
FROM $BASE
COPY wheels /wheels
RUN python3 -m venv /opt/server && /opt/server/bin/pip install --quiet --no-index --find-links /wheels $TIME_PIN && rm -rf /wheels
ENV TZ=Etc/UTC
USER 65534:65534
ENTRYPOINT ["/opt/server/bin/mcp-server-time"]
EOF

cat >"$work/mcp-server-git/Dockerfile" <<EOF
FROM $BASE
COPY wheels /wheels
RUN python3 -m venv /opt/server && /opt/server/bin/pip install --quiet --no-index --find-links /wheels $GIT_PIN && rm -rf /wheels
RUN git config --system --add safe.directory '*' \\
 && mkdir /repo && cd /repo && git init -q -b main \\
 && printf 'hello from the test repository\\n' > README.md \\
 && git add README.md \\
 && git -c user.name=test -c user.email=test@example.invalid commit -q -m 'first commit' \\
 && chown -R 65534:65534 /repo
ENV HOME=/tmp
USER 65534:65534
ENTRYPOINT ["/opt/server/bin/mcp-server-git", "--repository", "/repo"]
EOF

for server in mcp-server-time mcp-server-git; do
    echo "docker build $server:test"
    "$DOCKER" build --quiet --label "$LABEL=$hash" -t "$server:test" "$work/$server" >/dev/null
done
echo "built: $BASE mcp-server-time:test mcp-server-git:test"
