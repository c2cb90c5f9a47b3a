#!/bin/sh
# cgexec.sh CGROUP_DIR [--ns] CMD ARGS...: move this shell into the cgroup, then exec CMD (used by run.sh,
# scenario 7). With --ns, CMD runs in its own mount namespace with the cgroup directory bind-mounted over
# /sys/fs/cgroup/cpu (v1), so its own cgroup appears at the root: what a process in a container sees.
cg=$1; shift
echo $$ >"$cg/cgroup.procs" || exit 1
if [ "${1:-}" = --ns ]; then
  shift
  exec unshare --mount --propagation private sh -c 'mount --bind "$0" /sys/fs/cgroup/cpu && exec "$@"' "$cg" "$@"
fi
exec "$@"
