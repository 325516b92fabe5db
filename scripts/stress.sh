#!/bin/sh
# stress.sh — determinism under load (issue 14): run `virtsim check` and
# the run that once crashed (compute n=100000 under trap) many times while
# busy loops keep every core loaded, and require zero differences.
#
#   scripts/stress.sh [CHECKS [RUNS]]     (defaults 5 and 20; make stress)
#
# Every run's summary (stop kind, reason, PC, instructions) must equal the
# first one's; `virtsim check` must match the committed golden each time.
# A crash prints its reason and PC. Exit status 0 only with zero
# differences. The busy loops are this script's children, ended by PID.
set -u
CHECKS=${1:-5}
RUNS=${2:-20}
BIN=${VIRTSIM:-bin/virtsim}
[ -x "$BIN" ] || { echo "stress: $BIN not built (make build)" >&2; exit 69; }
OUT=$(mktemp -d /tmp/virtsim-stress.XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$OUT"; }
trap cleanup EXIT INT TERM
N=$(nproc 2>/dev/null || echo 2)
i=0
while [ "$i" -lt "$N" ]; do
	sh -c 'while :; do :; done' &
	PIDS="$PIDS $!"
	i=$((i + 1))
done
echo "stress: $N busy loops; $CHECKS x virtsim check, $RUNS x compute n=100000 under trap"
fail=0
i=0
while [ "$i" -lt "$CHECKS" ]; do
	i=$((i + 1))
	if "$BIN" check --quiet >"$OUT/check.$i" 2>&1; then
		echo "stress: check $i/$CHECKS ok"
	else
		echo "stress: check $i/$CHECKS FAILED:"; cat "$OUT/check.$i"; fail=$((fail + 1))
	fi
done
summary() { # stop kind, reason, pc, instructions from a --json result
	tr -d '\n' <"$1" | sed 's/"serial":"[^"]*"//' | grep -o '"stop": *{[^}]*}\|"instructions": *[0-9]*' | tr '\n' ' '
}
i=0
while [ "$i" -lt "$RUNS" ]; do
	i=$((i + 1))
	"$BIN" run --guest compute --args n=100000 --strategy trap --quiet --no-timing --json "$OUT/run.json" >/dev/null 2>"$OUT/run.err"
	s=$(summary "$OUT/run.json")
	[ "$i" -eq 1 ] && first=$s
	if [ "$s" != "$first" ]; then
		echo "stress: run $i/$RUNS DIFFERS: $s (first: $first)"; cat "$OUT/run.err"; fail=$((fail + 1))
	fi
done
echo "stress: compute n=100000 trap: $first"
echo "stress: $fail differences in $CHECKS checks and $RUNS runs"
[ "$fail" -eq 0 ]
