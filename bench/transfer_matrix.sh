#!/bin/bash
# The transfer matrix of issue 14: linear-probe on each of the three extractors against the
# built-in Fawkes-high cloak (dlib-resnet), its dlib-resnet+mobilefacenet ensemble, LowKey, and
# the noise cloak at Fawkes-high's mean DSSIM. Sized for 2 CPU cores; USERS=20 on a GPU. The tracker knows
# twice as many identities as there are protected users (LABELS).
#   USERS=10 OUT=/tmp/t10 bash bench/transfer_matrix.sh
set -u
cd "$(dirname "$0")/.."
: "${USERS:=10}" "${OUT:=transfer-matrix}" "${AUDIT_DATA:=../shared/datasets}" "${PYTHON:=.venv/bin/python}"
: "${LABELS:=$((2 * USERS))}"
export AUDIT_DATA
mkdir -p "$OUT"
trackers=(--tracker linear-probe --tracker linear-probe:extractor=mobilefacenet --tracker linear-probe:extractor=faceres)
protocol=(--users "$USERS" --min-photos 12 --max-photos 12 --labels "$LABELS" --seed 0)
run() {  # run NAME CLOAKER
  "$PYTHON" -m audit.cli run --cloaker "$2" "${trackers[@]}" "${protocol[@]}" --out "$OUT/$1" > "$OUT/$1.log" 2>&1
  echo "$(date -u +%FT%TZ) $1 exit $?" >> "$OUT/progress"
}
run fawkes-high "fawkes:impl=builtin,mode=high"
run lowkey "lowkey"
run fawkes-high-ensemble "fawkes:impl=builtin,mode=high,extractor=[dlib-resnet+mobilefacenet]"
dssim=$("$PYTHON" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['perturbation']['dssim_mean'], 4))" \
        "$OUT/fawkes-high/report.json")
run noise "noise:budget=dssim:$dssim"
