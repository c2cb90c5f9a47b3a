# Shared by the bounded load scripts (soak.sh, hedging.sh): the processes they start, port checks, the release
# binary and the Python interpreter. Source it after setting:
#   script   the script's name, for messages         repo   the repository root
#   bin      the fanout binary to run (built if missing)   work   a scratch directory, removed on exit
# It sets `pids` (append every process started; all are stopped on exit, TERM then KILL after 5 s) and
# `child` (an optional foreground process, sent TERM first).

pids=()
child=""
cleanup() {
  local p
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$@" >&2; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port PORT PID: until something listens (up to 10 s), or the process died
  for _ in $(seq 100); do
    listening "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# require_free_ports HINT PORT…: exit 1 when one is in use; HINT names the variables that move them.
require_free_ports() {
  local hint=$1 p
  shift
  for p in "$@"; do
    listening "$p" && { say "$script: port $p is already in use (set $hint)"; exit 1; }
  done
}

# ensure_fanout_binary: builds the release binary when `bin` is missing.
ensure_fanout_binary() {
  if [ ! -x "$bin" ]; then
    say "fanout binary missing: building it"
    (cd "$repo" && swift build -c release --product fanout) >&2 || { say "$script: build failed"; exit 1; }
  fi
}

# The interpreter itself, not a wrapper: a pyenv shim forks, so $! would be the shim's pid, and stopping it
# would leave Python running (and sampling it would measure the shim).
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || { say "$script: python3 is missing"; exit 1; }
