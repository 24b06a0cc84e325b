#!/usr/bin/env bash
# Runs every linearizability scenario (tests/linearizability) for N seeded
# rounds — round r with seed SEED+r — and tallies the results: passes and
# failures per scenario, operations checked, crash points reached, snapshots
# installed. A failing run keeps its history, logs and seed in the folder
# its failure names (see docs/reliability.md).
#
#   BASALT_LIN_ROUNDS=200 scripts/lin-rounds.sh [LOG]
#
# BASALT_LIN_ROUNDS (default 10), BASALT_LIN_DURATION (traffic per scenario,
# default 12s) and BASALT_LIN_SEED (default random) are passed to the test;
# LOG (default lin-rounds-<time>.log) receives the test's output.
set -euo pipefail
cd "$(dirname "$0")/.."

export BASALT_LIN_ROUNDS="${BASALT_LIN_ROUNDS:-10}"
export BASALT_LIN_DURATION="${BASALT_LIN_DURATION:-12s}"
export BASALT_LIN_SEED="${BASALT_LIN_SEED:-$(( (RANDOM << 30) | (RANDOM << 15) | RANDOM ))}"
export BASALT_LIN_SCENARIOS=all
log="${1:-lin-rounds-$(date +%Y%m%d-%H%M%S).log}"

echo "rounds $BASALT_LIN_ROUNDS, $BASALT_LIN_DURATION of traffic per scenario, seed $BASALT_LIN_SEED; output in $log"
start=$(date +%s)
status=0
go test -count=1 -timeout 0 -run '^TestLinearizability$' -v ./tests/linearizability >"$log" 2>&1 || status=$?
end=$(date +%s)

echo
echo "== per scenario (rounds passed / failed)"
grep -E '^ +--- (PASS|FAIL): TestLinearizability/round[0-9]+/' "$log" |
  sed -E 's/^ +--- (PASS|FAIL): TestLinearizability\/round[0-9]+\/([^ ]+).*/\2 \1/' |
  sort | uniq -c | awk '{ n[$2 " " $3] = $1; seen[$2] = 1 } END { for (s in seen) printf "%-28s %4d passed %4d failed\n", s, n[s " PASS"], n[s " FAIL"] }' | sort
echo
echo "== totals"
printf 'scenario runs passed:   %s\n' "$(grep -cE '^ +--- PASS: TestLinearizability/round[0-9]+/' "$log" || true)"
printf 'scenario runs failed:   %s\n' "$(grep -cE '^ +--- FAIL: TestLinearizability/round[0-9]+/' "$log" || true)"
printf 'operations checked:     %s\n' "$(grep -oE 'history: [0-9]+ operations' "$log" | awk '{ s += $2 } END { print s + 0 }')"
printf 'crash points reached:   %s\n' "$(grep -oE 'killed at [A-Za-z]+' "$log" | wc -l)"
printf 'install crashes:        %s\n' "$(grep -oE 'killed installing at [A-Za-z]+' "$log" | wc -l)"
printf 'snapshots installed:    %s\n' "$(grep -oE 'members: [0-9]+ database snapshots sent, [0-9]+ applied' "$log" | awk '{ s += $6 } END { print s + 0 }')"
printf 'wall time:              %dm%02ds\n' $(( (end - start) / 60 )) $(( (end - start) % 60 ))
if [ "$status" -ne 0 ]; then
  echo
  echo "== failures (replay a seed with BASALT_LIN_SEED, one scenario with -run)"
  grep -E 'failed with seed|--- FAIL' "$log" | head -50
fi
exit "$status"
