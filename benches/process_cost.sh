#!/usr/bin/env bash
# Process cost of the CLI use: wall time and peak RSS of one release
# `nexus_fetch` run (a resolve from the Gateway plus one upstream request)
# and one `nexus token` (a resolve, printed) against the FakeGateway in
# another process. Median of 10 runs each.
#
# Baselines measured in the same run: `/bin/true` (the floor of starting a
# process) and a Python interpreter importing what the Python SDK imports
# (urllib, json, ssl), which it pays before its first request.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10

cargo build --quiet --release --example nexus_fetch -p nexus-gateway-sdk
cargo build --quiet --release -p nexus-gateway-fake -p nexus-cli
bin=target/release/examples
work=$(mktemp -d)
target/release/nexus-gateway-fake >"$work/urls" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ "$(wc -l <"$work/urls")" -ge 2 ] && break; sleep 0.05; done
# shellcheck disable=SC1091
. "$work/urls"
export NEXUS_GATEWAY_URL

fetch=("$bin/nexus_fetch" -w ws-demo -p github "$UPSTREAM_URL/user")
token=(target/release/nexus token ws-demo github)
floor=(/bin/true)
python_imports=(python3 -c 'import urllib.request, json, ssl')

# Median wall time in milliseconds, timed by the shell itself (µs resolution).
wall_ms() {
    local samples=() start end
    for _ in $(seq "$runs"); do
        start=$EPOCHREALTIME; "$@" >/dev/null 2>&1; end=$EPOCHREALTIME
        samples+=("$(awk -v a="$start" -v b="$end" 'BEGIN { print (b - a) * 1000 }')")
    done
    printf '%s\n' "${samples[@]}" | sort -g | awk -v n="$runs" 'NR == int(n / 2) + 1 { printf "%.2f", $1 }'
}

# Median peak RSS in MiB, from /usr/bin/time run on the command itself.
rss_mib() {
    local samples=()
    for _ in $(seq "$runs"); do
        samples+=("$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1)")
    done
    printf '%s\n' "${samples[@]}" | sort -g | awk -v n="$runs" 'NR == int(n / 2) + 1 { printf "%.1f", $1 / 1024 }'
}

"${fetch[@]}" >/dev/null 2>&1 # warm the page cache, and check it works
printf 'process cost, median of %d runs (%s cores):\n' "$runs" "$(nproc)"
printf '  %-40s %9s %10s\n' "" "wall" "peak RSS"
printf '  %-40s %6s ms %6s MiB\n' "nexus_fetch: resolve + upstream GET" "$(wall_ms "${fetch[@]}")" "$(rss_mib "${fetch[@]}")"
printf '  %-40s %6s ms %6s MiB\n' "nexus token: resolve, print" "$(wall_ms "${token[@]}")" "$(rss_mib "${token[@]}")"
printf '  %-40s %6s ms %6s MiB\n' "/bin/true (process start floor)" "$(wall_ms "${floor[@]}")" "$(rss_mib "${floor[@]}")"
printf '  %-40s %6s ms %6s MiB\n' "python3 importing urllib, json, ssl" "$(wall_ms "${python_imports[@]}")" "$(rss_mib "${python_imports[@]}")"
