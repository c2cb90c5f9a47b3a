#!/usr/bin/env bash
# Builds the fanout Debian package: .build/deb/fanout_VERSION_ARCH.deb.
#
#   scripts/build-deb.sh             # release build (static Swift runtime), then the package
#   scripts/build-deb.sh --print     # only print the path of the package it would write
#
# Contents: /usr/bin/fanout (the Swift runtime linked statically, so only libcurl4, zlib and libc are needed),
# /etc/fanout/proxy.conf (the shipped configuration, a conffile: dpkg keeps local edits on upgrade and remove),
# the systemd unit /lib/systemd/system/fanout.service (own user, sandboxed; see deploy/debian/fanout.service),
# man pages fanout(1) and proxy.conf(5), and /usr/share/doc/fanout. scripts/deb-test.sh installs it in a
# throw-away root and serves /demo from it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

version=$(sed -n 's/^let version = "\(.*\)"$/\1/p' Sources/fanout/main.swift)
[ -n "$version" ] || { echo "build-deb.sh: no 'let version = \"…\"' in Sources/fanout/main.swift" >&2; exit 1; }
arch=$(dpkg --print-architecture)
out=$repo/.build/deb/fanout_${version}_${arch}.deb
if [ "${1:-}" = --print ]; then echo "$out"; exit 0; fi

echo "--- swift build -c release --static-swift-stdlib --product fanout" >&2
swift build -c release --static-swift-stdlib --product fanout >&2
bin=$(swift build -c release --show-bin-path)/fanout

stage=$(mktemp -d "${TMPDIR:-/tmp}/fanout-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -D -m 755 "$bin" "$root/usr/bin/fanout"
strip --strip-unneeded "$root/usr/bin/fanout"
install -D -m 644 proxy.conf "$root/etc/fanout/proxy.conf"
install -D -m 644 deploy/debian/fanout.service "$root/lib/systemd/system/fanout.service"
install -d "$root/usr/share/man/man1" "$root/usr/share/man/man5"
gzip -9n <deploy/debian/fanout.1 >"$root/usr/share/man/man1/fanout.1.gz"
gzip -9n <deploy/debian/proxy.conf.5 >"$root/usr/share/man/man5/proxy.conf.5.gz"
doc=$root/usr/share/doc/fanout
install -d "$doc"
install -m 644 README.md "$doc/README.md"
[ -d docs ] && cp -r docs "$doc/docs" && find "$doc/docs" -type f -exec chmod 644 {} + && find "$doc/docs" -type d -exec chmod 755 {} +
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: fanout"
    echo
    echo "Files: *"
    echo "Copyright: 2026 the fanout authors"
    echo "License: Apache-2.0"
    echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
} >"$doc/copyright"
if [ -f CHANGELOG.md ]; then gzip -9n <CHANGELOG.md >"$doc/changelog.gz"; fi

# Runtime libraries, read from the binary itself: every shared library it needs must come from one of these.
needed=$(objdump -p "$root/usr/bin/fanout" | awk '/NEEDED/ {print $2}' | sort -u)
for lib in $needed; do
    case "$lib" in
        libcurl.so.4) ;; libz.so.1) ;; libssl.so.3|libcrypto.so.3) ;; libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux-*) ;;
        libstdc++.so.6|libgcc_s.so.1) ;;
        *) echo "build-deb.sh: the binary needs $lib, which the package does not declare" >&2; exit 1 ;;
    esac
done

install -d "$root/DEBIAN"
install -m 755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
echo /etc/fanout/proxy.conf >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: fanout
Version: $version
Architecture: $arch
Maintainer: fanout developers <fanout@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.36), libcurl4 (>= 7.88), libssl3, zlib1g, libstdc++6, libgcc-s1, adduser
Section: httpd
Priority: optional
Homepage: https://example.invalid/fanout
Description: reverse proxy with request fan-out
 fanout replaces hand-written fan-out views: a configuration file declares
 composite endpoints (one route, several upstream calls run in parallel or
 chained), and one combined JSON answer comes back in the time of the slowest
 call. Failures, timeouts and partial results are explicit.
CONTROL
mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group --build "$root" "$out" >&2
echo "$out"
