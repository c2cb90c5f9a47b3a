#!/usr/bin/env bash
# Builds fanout against libcurl 8.14.1 from bookworm-backports and runs the whole test suite with it, without
# touching the system's libcurl (Debian bookworm's 7.88.1 stays what `swift build` and CI use).
#
#   scripts/test-libcurl8.sh [extra `swift test` arguments]        e.g. --filter PartnerLeftoverBytesTests
#   scripts/test-libcurl8.sh --build-only                          build and check the loaded version, no tests
#
# 1. Adds the bookworm-backports suite to apt's sources if it is missing (root only; `apt-get update` then).
# 2. `apt-get download`s the backports libcurl4 and libcurl4-openssl-dev into .build/libcurl8/debs and extracts
#    them with `dpkg -x` into the prefix .build/libcurl8/prefix. Nothing is installed system-wide. The runtime
#    libraries 8.14.1 links (nghttp2, OpenSSL 3, zstd, brotli, …) all exist in bookworm at the versions it asks
#    for; any that is missing is installed from bookworm itself (root only).
# 3. Rewrites the prefix's libcurl.pc to point into it and builds into its own scratch path, .build/curl8, with
#    PKG_CONFIG_PATH at that .pc (CCurl in Package.swift finds libcurl through pkg-config) and an rpath into the
#    prefix, so the test binary and the `fanout` executable the tests start load 8.14.1.
# 4. Checks that `fanout --version` reports libcurl 8.14.1, then runs `swift test` in that scratch path.
#
# The last line is a one-line summary: PASS/FAIL, the libcurl version, tests passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_version=8.14.1
base=$PWD/.build/libcurl8
prefix=$base/prefix
scratch=.build/curl8
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
build_only=0
if [[ "${1:-}" == "--build-only" ]]; then
    build_only=1
    shift
fi

# 1. The backports suite.
backports_version() {
    apt-cache madison libcurl4-openssl-dev 2>/dev/null | awk -F'|' '/bookworm-backports/ {gsub(/ /, "", $2); print $2; exit}'
}
version=$(backports_version)
if [[ -z "$version" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bookworm-backports is not in apt's sources, and adding it needs root" >&2
        exit 1
    fi
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/bookworm-backports.list
    fi
    apt-get update -qq
    version=$(backports_version)
    [[ -n "$version" ]] || { echo "no libcurl4-openssl-dev in bookworm-backports" >&2; exit 1; }
fi
[[ "$version" == "$want_version"-* ]] || echo "note: bookworm-backports has libcurl $version, expected $want_version" >&2
want_version=${version%%-*}

# 2. Download and extract (again only when the version changed).
if [[ "$(cat "$base/version" 2>/dev/null)" != "$version" || ! -d "$prefix" ]]; then
    rm -rf "$base"
    mkdir -p "$base/debs" "$prefix"
    # As root, apt would hand the download to its `_apt` user, who cannot write into this checkout.
    sandbox=()
    [[ $(id -u) -ne 0 ]] || sandbox=(-o APT::Sandbox::User=root)
    (cd "$base/debs" && apt-get download -q "${sandbox[@]}" "libcurl4=$version" "libcurl4-openssl-dev=$version")
    for deb in "$base"/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
    echo "$version" >"$base/version"
fi

# Runtime libraries libcurl4 8.14.1 depends on: take them from bookworm where they are missing.
missing=()
for package in $(apt-cache depends -t bookworm-backports "libcurl4=$version" 2>/dev/null |
    awk '/^ *Depends:/ && $2 !~ /^</ {print $2}'); do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || { echo "missing runtime libraries (need root to install): ${missing[*]}" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# 3. pkg-config file pointing into the prefix.
libdir=$prefix/usr/lib/$arch
includedir=$prefix/usr/include/$arch
pcdir=$base/pkgconfig
mkdir -p "$pcdir"
# Without the *.private lines: fanout links libcurl dynamically, and pkg-config (SwiftPM's too) would
# otherwise want the .pc files of libcurl's own dependencies, which only their -dev packages install.
sed -e "s|^prefix=.*|prefix=$prefix/usr|" -e "s|^includedir=.*|includedir=$includedir|" \
    -e '/^Requires.private:/d' -e '/^Cflags.private:/d' -e '/^Libs.private:/d' \
    "$libdir/pkgconfig/libcurl.pc" >"$pcdir/libcurl.pc"
if command -v pkg-config >/dev/null && ! PKG_CONFIG_PATH="$pcdir" pkg-config --exists libcurl; then
    echo "pkg-config cannot use $pcdir/libcurl.pc" >&2
    exit 1
fi
# The dev package's libcurl.so symlink points at the runtime library extracted next to it.
[[ -e "$libdir/libcurl.so" ]] || { echo "no libcurl.so in $libdir" >&2; exit 1; }
# zlib.pc (CZlib) still comes from the system: keep the default search path behind ours.
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=(--scratch-path "$scratch" -Xlinker -rpath -Xlinker "$libdir" -Xcc -I"$includedir")

mkdir -p "$base"
if ! swift build --build-tests "${flags[@]}" >"$base/build.log" 2>&1; then
    grep -E 'error:' "$base/build.log" | head -20 >&2
    echo "FAIL: the build against libcurl $want_version failed (log: $base/build.log)" >&2
    exit 1
fi
grep -E 'warning:' "$base/build.log" | sort -u | head -20 || true

# 4. Which libcurl the binaries load.
bin=$(swift build "${flags[@]}" --show-bin-path)
loaded=$("$bin/fanout" --version | awk '/^libcurl [0-9]/ {print $2; exit}')
if [[ "$loaded" != "$want_version" ]]; then
    echo "FAIL: $bin/fanout loads libcurl $loaded, not $want_version" >&2
    exit 1
fi
echo "fanout in $bin loads libcurl $loaded"
if ((build_only)); then exit 0; fi

log=$base/test.log
status=0
swift test "${flags[@]}" "$@" >"$log" 2>&1 || status=$?
grep -E '^✘|Test run with|error:' "$log" | cut -c1-300 | tail -40 || true
summary=$(grep -E 'Test run with' "$log" | tail -1)
if ((status == 0)); then
    echo "PASS: libcurl $loaded, ${summary#* } (log: $log)"
else
    echo "FAIL: libcurl $loaded, swift test exited $status: ${summary#* } (log: $log)"
fi
exit $status
