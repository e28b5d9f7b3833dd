#!/bin/bash
# The baseline leaderboard (issue 35): `audit bench` for each of the seven built-in entries on one battery, then
# `audit leaderboard` over their scorecards. The entries: no cloak, Fawkes low / mid / high on dlib-resnet, the
# dlib-resnet+mobilefacenet ensemble, LowKey as published, and noise at the photo LPIPS Fawkes-high measured in
# this same run (so noise is the control for "does the cloak do more than its visibility?").
#   BATTERY=quick OUT=/tmp/lb bash bench/leaderboard.sh   # then $OUT/leaderboard.md and .html; $OUT/progress: times
# A stopped run resumes: each bench reuses its finished cells.
set -u
cd "$(dirname "$0")/.."
: "${BATTERY:=standard}" "${OUT:=leaderboard-$BATTERY}" "${AUDIT_DATA:=../shared/datasets}" "${PYTHON:=.venv/bin/python}"
export AUDIT_DATA
mkdir -p "$OUT"
bench() {  # bench NAME CLOAKER
  local name=$1 cloaker=$2 start=$SECONDS
  "$PYTHON" -m audit.cli bench --cloaker "$cloaker" --name "$name" --battery "$BATTERY" --out "$OUT/$name" \
    > "$OUT/$name.log" 2>&1
  local status=$?  # taken first: "$(date)" in the line below would reset $?
  echo "$(date -u +%FT%TZ) $name exit $status $((SECONDS - start)) s" >> "$OUT/progress"
}
bench none none
for mode in low mid high; do
  bench "fawkes-$mode" "fawkes:mode=$mode"
done
bench fawkes-ensemble "fawkes:mode=high,extractor=[dlib-resnet+mobilefacenet]"
bench lowkey lowkey
fawkes_lpips=$("$PYTHON" -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["cost"]["lpips_mean"])' \
  "$OUT/fawkes-high/scorecard.json") || { echo "no Fawkes-high scorecard: noise has no cost to match" >&2; exit 1; }
bench noise "noise:budget=lpips:$fawkes_lpips"
"$PYTHON" -m audit.cli leaderboard "$OUT"/*/ --out "$OUT" > "$OUT/leaderboard.log" 2>&1
