#!/usr/bin/env bash
# Runs BlackholeDNSTests: fanout against a partner whose name server never answers.
#
#   scripts/blackhole-dns-test.sh        (after swift build --build-tests)
#
# A process cannot change its own resolver, so the tests run in a private user, mount and network namespace
# (unshare, no root needed where unprivileged user namespaces are allowed): loopback only, /etc/resolv.conf
# bind-mounted to "nameserver 127.0.0.1", and a UDP socket on 127.0.0.1:53 that reads queries and never
# answers. getaddrinfo then waits out its own timeouts (5 s per try by default).
set -euo pipefail
cd "$(dirname "$0")/.."
exec unshare --map-root-user --mount --net sh -c '
    set -e
    ip link set lo up
    conf=$(mktemp)
    echo "nameserver 127.0.0.1" > "$conf"
    mount --bind "$conf" /etc/resolv.conf
    python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((\"127.0.0.1\", 53))
while True:
    s.recvfrom(4096)
" &
    dns=$!
    trap "kill $dns" EXIT
    FANOUT_TEST_BLACKHOLE_DNS=1 swift test --skip-build --filter BlackholeDNSTests
'
