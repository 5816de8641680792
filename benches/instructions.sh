#!/usr/bin/env bash
# Instructions per warm fetch, counted by callgrind (exact and repeatable,
# whatever else the machine is doing): `authenticated_fetch` against a raw
# ureq agent with the SDK's timeouts (the same bound) and one without any,
# all on one kept-alive loopback connection to the same FakeUpstream.
#
# Each arm runs 200 and then 400 fetches after the same warm-up; the
# difference over 200 is one fetch: the client's work, ureq's resolver
# thread where there is one, and the in-process upstream's answer (the
# same for every arm). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }

bin=$(cargo bench --bench fetch --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
[ -x "$bin" ] || { echo "the fetch bench did not build"; exit 1; }

instructions() { # arm, count
    NEXUS_FETCH_LOOP="$1:$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

declare -A per_fetch
for arm in sdk raw-same-timeouts raw; do
    low=$(instructions "$arm" 200)
    high=$(instructions "$arm" 400)
    per_fetch[$arm]=$(( (high - low) / 200 ))
    printf '  %-36s %8d instructions per fetch\n' "$arm" "${per_fetch[$arm]}"
done
awk -v s="${per_fetch[sdk]}" -v t="${per_fetch[raw-same-timeouts]}" -v r="${per_fetch[raw]}" 'BEGIN {
    printf "  SDK / raw with the same timeouts      %.3f×\n", s / t
    printf "  SDK / raw without timeouts            %.3f×\n", s / r
}'
