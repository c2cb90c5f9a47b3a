#!/usr/bin/env bash
# Installs the fanout .deb in a throw-away root and serves /demo from it, as the package's systemd unit would.
#
#   scripts/deb-test.sh [PACKAGE.deb]     # default: builds it with scripts/build-deb.sh
#
# The throw-away root is an overlay of this machine's / in a private mount namespace (needs root): dpkg
# installs, removes and purges inside it, and nothing reaches the real system. Checks: the files and the
# conffile are where the package says; the `fanout` user exists; the unit passes `systemd-analyze verify`;
# the man pages render without a warning; the unit's own ExecStartPre/ExecStart lines, run as the unit's
# user, serve GET /demo with 200; SIGTERM stops it with status 0; remove keeps the edited conffile, purge
# removes it and the user. Prints "N passed, M failed" and exits non-zero on a failure.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then echo "deb-test.sh: needs root (mount namespace, chroot, dpkg)" >&2; exit 1; fi

if [ "${1:-}" = --inside ]; then
    deb=$2 base=$3
    passed=0 failed=0
    ok() { echo "ok: $*"; passed=$((passed + 1)); }
    bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
    check() { local what=$1; shift; if "$@" >/tmp/deb-test-check.log 2>&1; then ok "$what"; else bad "$what"; sed 's/^/    /' /tmp/deb-test-check.log; fi; }

    mount -t tmpfs tmpfs "$base" || exit 1
    mkdir -p "$base/upper" "$base/work" "$base/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root" || exit 1
    R=$base/root
    mount --bind /proc "$R/proc"; mount --bind /dev "$R/dev"; mount --bind /sys "$R/sys"
    mount -t tmpfs tmpfs "$R/run"; mount -t tmpfs tmpfs "$R/tmp"
    cp "$deb" "$R/tmp/fanout.deb"
    in_root() { chroot "$R" "$@"; }

    # A machine where fanout was never installed: no user, no files.
    in_root sh -c 'dpkg --purge fanout; deluser --system fanout; rm -f /usr/bin/fanout' >/dev/null 2>&1
    check "dpkg -i installs the package" in_root dpkg -i /tmp/fanout.deb
    check "dpkg -s: installed" sh -c "chroot '$R' dpkg -s fanout | grep -q '^Status: install ok installed'"
    for f in /usr/bin/fanout /etc/fanout/proxy.conf /lib/systemd/system/fanout.service \
        /usr/share/man/man1/fanout.1.gz /usr/share/man/man5/proxy.conf.5.gz /usr/share/doc/fanout/copyright; do
        check "file $f" test -f "$R$f"
    done
    check "proxy.conf is a conffile" sh -c "chroot '$R' dpkg-query -W -f='\${Conffiles}' fanout | grep -q /etc/fanout/proxy.conf"
    check "system user fanout" in_root getent passwd fanout
    check "fanout --version runs (static Swift runtime)" in_root /usr/bin/fanout --version
    check "fanout check on the installed configuration" in_root /usr/bin/fanout check /etc/fanout/proxy.conf
    check "man fanout renders without a warning" sh -c "zcat '$R/usr/share/man/man1/fanout.1.gz' | groff -man -ww -z 2>&1 | (! grep .)"
    check "man proxy.conf renders without a warning" sh -c "zcat '$R/usr/share/man/man5/proxy.conf.5.gz' | groff -man -ww -z 2>&1 | (! grep .)"
    if command -v systemd-analyze >/dev/null; then
        check "systemd-analyze verify fanout.service" sh -c \
            "systemd-analyze verify --man=no --root='$R' /lib/systemd/system/fanout.service 2>&1 | (! grep -v -e 'Cannot add dependency job' -e 'Failed to load' -e '^$' | grep .)"
    fi

    # Start it as the unit does: its own ExecStartPre and ExecStart lines, as its User, with free ports.
    unit=$R/lib/systemd/system/fanout.service
    user=$(sed -n 's/^User=//p' "$unit")
    pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
    start=$(sed -n 's/^ExecStart=//p' "$unit")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    check "ExecStartPre ($pre) as $user" chroot --userspec="$user:$user" "$R" env FANOUT_PORT="$port" $pre
    chroot --userspec="$user:$user" "$R" env FANOUT_PORT="$port" FANOUT_ADMIN="$admin" $start \
        >"$base/stdout.log" 2>"$base/stderr.log" &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    check "GET /demo from the installed service: 200 with the combined answer" sh -c \
        "curl -sS -m 5 -w '\n%{http_code}' 'http://127.0.0.1:$port/demo' | tee /dev/stderr | tail -1 | grep -qx 200"
    check "admin /readyz answers 200" sh -c "curl -sS -m 5 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$admin/readyz' | grep -qx 200"
    check "the process runs as $user" test "$(stat -c %u "/proc/$pid")" = "$(chroot "$R" id -u "$user")"
    kill -TERM "$pid"
    wait "$pid"; status=$?
    check "SIGTERM stops it with status 0 (was $status)" test "$status" = 0
    check "the access log has the /demo line" grep -q '"path":"/demo"' "$base/stdout.log"

    # An edited conffile survives remove; purge removes it and the user.
    echo "# edited by the administrator" >>"$R/etc/fanout/proxy.conf"
    check "dpkg -r removes the package" in_root dpkg -r fanout
    check "remove keeps the edited conffile" grep -q "edited by the administrator" "$R/etc/fanout/proxy.conf"
    check "remove takes the binary away" test ! -e "$R/usr/bin/fanout"
    check "dpkg --purge" in_root dpkg --purge fanout
    check "purge removes the conffile" test ! -e "$R/etc/fanout/proxy.conf"
    check "purge removes the user" sh -c "! chroot '$R' getent passwd fanout"

    if [ "$failed" != 0 ]; then echo "--- fanout's stderr"; cat "$base/stderr.log"; fi
    echo "deb-test: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
fi

deb=${1:-}
if [ -z "$deb" ]; then deb=$("$repo/scripts/build-deb.sh" | tail -1) || exit 1; fi
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
base=$(mktemp -d "${TMPDIR:-/tmp}/fanout-deb-test.XXXXXX")
# Everything mounted inside disappears with the namespace; the service is killed if it outlives the checks.
unshare --mount --propagation private --fork "$0" --inside "$deb" "$base"
status=$?
rm -rf "$base"
exit $status
