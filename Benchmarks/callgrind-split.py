#!/usr/bin/env python3
"""Splits a callgrind profile of fanout into libcurl's part and fanout's own part.

    Benchmarks/callgrind-split.py PROFILE REQUESTS [TOP]

"libcurl": the inclusive cost of every call from fanout's binary into libcurl, minus the inclusive cost of
libcurl's callbacks into fanout's binary. "memcpy": libc's memcpy outside that (libcurl's own calls of memcpy are
already in its part). "fanout's own": the total minus both. Until 2026-12-02 all of memcpy was subtracted, so
libcurl's memcpy was taken off twice and "fanout's own" read about 9k (/overview) and 3k (/proxy/a) too low. Prints the three figures per request
and, with TOP, the TOP functions outside libcurl's object by their own cost (libc's and Swift's runtime
included, wherever called from). PROFILE is a file callgrind.sh left (e.g. .build-prof/callgrind.out.1).
"""
import re
import sys


def main(path, requests):
    names, objects = {}, {}
    total = 0
    into_curl = 0
    callbacks = 0
    memcpy_self = 0
    memcpy_from_curl = 0  # libcurl's direct calls of memcpy: inside its inclusive part already
    own_self = {}
    ob = fn = cob = cfn = None
    pending = None  # (caller object, callee object, callee function) of the last calls= line
    cost_re = re.compile(r"^[+\-*]?\d*\s+(\d+)$")

    def obj(kind, text):
        m = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not m:
            return text
        if m.group(2):
            (objects if kind == "ob" else names)[m.group(1)] = m.group(2)
        return (objects if kind == "ob" else names).get(m.group(1), m.group(1))

    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("summary:"):
            total = int(line.split()[1])
            continue
        if line.startswith("ob="):
            ob = obj("ob", line[3:])
            continue
        if line.startswith("fn="):
            fn = obj("fn", line[3:])
            cob = None
            continue
        if line.startswith("cob="):
            cob = obj("ob", line[4:])
            continue
        if line.startswith("cfn="):
            cfn = obj("fn", line[4:])
            continue
        if line.startswith("calls="):
            pending = (ob, cob or ob, cfn)
            continue
        m = cost_re.match(line)
        if not m:
            continue
        cost = int(m.group(1))
        if pending:
            caller_ob, callee_ob, callee = pending
            pending = None
            cob = None
            if is_curl(caller_ob) and callee and callee.startswith("__memcpy"):
                memcpy_from_curl += cost
            if is_fanout(caller_ob) and is_curl(callee_ob):
                into_curl += cost
            elif is_curl(caller_ob) and is_fanout(callee_ob):
                callbacks += cost
            continue
        if fn and fn.startswith("__memcpy"):
            memcpy_self += cost
        elif not is_curl(ob):
            own_self[fn] = own_self.get(fn, 0) + cost

    curl = into_curl - callbacks
    memcpy = memcpy_self - memcpy_from_curl
    own = total - curl - memcpy
    print(f"per request: total {total // requests:,}  libcurl {curl // requests:,}  "
          f"memcpy {memcpy // requests:,}  fanout's own {own // requests:,}")
    for name, cost in sorted(own_self.items(), key=lambda x: -x[1])[:int(sys.argv[3]) if len(sys.argv) > 3 else 0]:
        print(f"{cost // requests:>8,}  {name[:140]}")


def is_curl(ob):
    return ob is not None and "libcurl" in ob


def is_fanout(ob):
    return ob is not None and ob.endswith("/fanout")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
