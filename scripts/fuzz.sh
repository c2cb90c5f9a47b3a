#!/usr/bin/env bash
# Fuzzes fanout's pure core with libFuzzer, one target after another, for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 s, every target)
#
# Targets (Fuzz/Package.swift): FuzzRequestParser FuzzChunkedBody FuzzConfig FuzzURLTemplate FuzzJSON.
# Needs only the Swift toolchain (it ships the libFuzzer and ASan runtimes); python3 or jq, when present, add
# the llhttp request cases to the request parser's seeds.
#
# Environment: FUZZ_WORK (default ./fuzz-work) holds, per target, the seed corpus built here (seeds/), the
# corpus libFuzzer grows and keeps between runs (corpus/), crash/timeout/leak/oom inputs (artifacts/) and
# the log (logs/). Extra libFuzzer flags can be given in FUZZ_FLAGS.
#
# Prints one summary line per target and exits 1 when any target crashed (or timed out, leaked, ran out of
# memory), 2 on a usage or build error. Replay a saved input with: .build-fuzz/release/TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

all_targets=(FuzzRequestParser FuzzChunkedBody FuzzConfig FuzzURLTemplate FuzzJSON)
seconds=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
    if [[ ! " ${all_targets[*]} " =~ " $target " ]]; then
        echo "unknown target '$target'; expected one of: ${all_targets[*]}" >&2
        exit 2
    fi
done

work=${FUZZ_WORK:-$root/fuzz-work}
scratch=$root/.build-fuzz
mkdir -p "$work"

# --- Build. SwiftPM passes `--sanitize=fuzzer --sanitize=address` to the compiler as two separate
# `-sanitize=` flags, and swiftc keeps only the last one: the code would get ASan but no coverage
# instrumentation, and libFuzzer would fuzz blind. The combined `-Xswiftc` flag comes last and wins.
echo "--- building the fuzz targets (release, ASan + libFuzzer) in $scratch"
build_flags=(-c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address --scratch-path "$scratch")
# ld.gold warns "Cannot export local symbol '__asan_…'" for every target; that one is harmless.
if ! (cd Fuzz && swift build "${build_flags[@]}") >"$work/build.log" 2>&1; then
    grep -v "Cannot export local symbol '__asan" "$work/build.log" >&2
    echo "build failed (full log: $work/build.log)" >&2
    exit 2
fi
grep -v "Cannot export local symbol '__asan" "$work/build.log" | grep -E "warning:|Build" || true
bin=$(cd Fuzz && swift build "${build_flags[@]}" --show-bin-path)

# --- Seeds: the committed ones, plus inputs taken from the repository's tests and configurations.
seed_request_parser() {
    local dir=$1 cases=Tests/FanoutCoreTests/Resources/llhttp-request-cases.json
    if command -v python3 >/dev/null; then
        python3 - "$cases" "$dir" <<'EOF'
import json, sys
for n, case in enumerate(json.load(open(sys.argv[1]))):
    open(f"{sys.argv[2]}/llhttp-{n:03}", "wb").write(case["request"].encode())
EOF
    elif command -v jq >/dev/null; then
        local count n
        count=$(jq length "$cases")
        for ((n = 0; n < count; n++)); do
            jq -j ".[$n].request" "$cases" >"$(printf '%s/llhttp-%03d' "$dir" "$n")"
        done
    else
        echo "    (neither python3 nor jq: the llhttp request cases are left out of the seeds)"
    fi
}

seed_config() {
    local dir=$1
    cp proxy.conf "$dir/proxy.conf"
    cp Benchmarks/fanout-bench.conf "$dir/fanout-bench.conf"
    # Every conf and conf-fragment block of README.md and docs/: the documented examples and snippets.
    find README.md docs -name '*.md' | sort | xargs awk -v dir="$dir" '
        /^```/ && !fence { fence = 1; conf = ($0 == "```conf" || $0 == "```conf-fragment"); block = ""; next }
        /^```$/ && fence { fence = 0; if (conf) { n++; printf "%s", block > (dir "/docs-" n); close(dir "/docs-" n) }; next }
        fence { block = block $0 "\n" }
    '
}

seed_url_template() {
    local dir=$1 n=0 vector
    # The hardening vectors of TemplateHardeningTests, as route parameter and query values.
    while IFS= read -r vector; do
        n=$((n + 1))
        printf '/v1/users/{id}/orders?q={query.q}\xff%s\xff%s' "$vector" "$vector" >"$dir/vector-$n"
    done < <(grep -oE '^ +\("[^"]*", \.(upstreamPath|badRequest)' Tests/FanoutCoreTests/Routing/TemplateHardeningTests.swift \
        | sed -E 's/^ +\("([^"]*)".*/\1/')
    # The upstream templates of the shipped configurations (the token after `call NAME METHOD UPSTREAM`).
    n=0
    while IFS= read -r template; do
        n=$((n + 1))
        printf '%s\xff42\xffen' "$template" >"$dir/conf-template-$n"
    done < <(awk '$1 == "call" && $5 ~ /^\// { print $5 }' proxy.conf Benchmarks/fanout-bench.conf | sort -u)
}

summary=()
failed=0
for target in "${targets[@]}"; do
    seeds=$work/$target/seeds
    corpus=$work/$target/corpus
    artifacts=$work/$target/artifacts
    log=$work/$target/fuzz.log
    rm -rf "$seeds"
    mkdir -p "$seeds" "$corpus" "$artifacts"
    cp Fuzz/Seeds/"$target"/* "$seeds"/
    case $target in
    FuzzRequestParser) seed_request_parser "$seeds" ;;
    FuzzConfig) seed_config "$seeds" ;;
    FuzzURLTemplate) seed_url_template "$seeds" ;;
    esac
    max_len=4096
    [[ $target == FuzzConfig ]] && max_len=16384
    before=$(find "$artifacts" -type f | wc -l)

    echo "--- $target: $seconds s from $(ls "$seeds" | wc -l) seeds and $(ls "$corpus" | wc -l) corpus inputs (log: $log)"
    status=0
    # SWIFT_BACKTRACE=enable=no: on a trap the Swift runtime's backtracer would otherwise take over the crash
    # (and can hang); libFuzzer's own handler must see it to save the input.
    # shellcheck disable=SC2086
    SWIFT_BACKTRACE=enable=no "$bin/$target" "$corpus" "$seeds" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
        -dict="Fuzz/Dictionaries/$target.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        ${FUZZ_FLAGS:-} >"$log" 2>&1 || status=$?

    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: U/SIZE lim: L exec/s: E rss: R".
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(grep -oE '^stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    [[ -z $execs ]] && execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
    rate=$(grep -oE '^stat::average_exec_per_sec: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    [[ -z $rate ]] && rate=$(grep -oE 'exec/s: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | sed 's/corp: //' || true)
    found=$(($(find "$artifacts" -type f | wc -l) - before))
    if [[ $status -ne 0 && $found -eq 0 ]]; then found=1; fi
    line=$(printf '%-18s %4ss  execs %-10s exec/s %-7s cov %-5s ft %-6s corpus %-12s crashes %s' \
        "$target" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found")
    if [[ $found -ne 0 ]]; then
        failed=1
        line+="  (exit $status; $(grep -m1 -E '^==[0-9]+==ERROR|Fatal error|property violated|ERROR: libFuzzer' "$log" | cut -c1-160))"
        line+=$'\n'"    inputs: $(find "$artifacts" -type f -newer "$seeds" | tr '\n' ' ')"
    fi
    echo "$line"
    summary+=("$line")
done

echo "--- summary ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
printf '%s\n' "${summary[@]}"
exit $failed
