"""Typed records: one serializer both ways, schemas derived from the types, version-1 documents still read."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import jsonschema
import pytest

from audit.records import (DOCUMENTS, SCHEMA_VERSION, CellResult, Rate, RecordError, RunReport, dumps, from_json,
                           json_schema, read_document, shipped_schema, to_json)
from tests.builders import cell, run_report, user_row
from tests.conftest import validate_documents

V1_REPORT = Path(__file__).parent / "reports" / "data" / "report_v1.json"


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_the_shipped_schemas_are_the_ones_the_records_derive(kind):
    assert shipped_schema(kind) == json_schema(DOCUMENTS[kind]), (
        f"audit/schemas/{kind}.schema.json is stale: regenerate it with `python -m audit.records.schema`")
    assert shipped_schema(kind)["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


def test_a_record_survives_its_json_and_the_json_matches_the_schema():
    report = run_report([cell(rows=(user_row("Ada", 4, 3), user_row("Bob", 5, 0)))])
    data = json.loads(dumps(report))
    jsonschema.validate(data, shipped_schema("run"))
    assert data["results"][0]["protection"]["ci95"] == list(report.results[0].protection.ci95)
    assert "rank_k" not in data["results"][0] and "pooled" not in data  # optional keys left out when None
    assert data["perturbation"]["psnr_mean"] is None  # a required key that may be null stays
    assert from_json(RunReport, data) == report


def test_nan_rates_round_trip():
    nothing = Rate(rate=math.nan, ci95=(math.nan, math.nan), n_photos=0)
    back = from_json(Rate, json.loads(json.dumps(to_json(nothing))))
    assert math.isnan(back.rate) and back.n_photos == 0 and back.n_users is None


def test_the_schema_rejects_what_the_records_cannot_hold():
    valid = json.loads(dumps(run_report([cell()])))
    schema = shipped_schema("run")
    for broken in ({**valid, "surprise": 1},  # an unknown key
                   {**valid, "results": [{**valid["results"][0], "n_labels": "sixty"}]},  # a wrong type
                   {k: v for k, v in valid.items() if k != "environment"},  # a missing key
                   {**valid, "schema_version": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_the_session_check_catches_an_invalid_document():
    with tempfile.TemporaryDirectory() as outside:  # not under the session's folder, which the session check reads
        check_a_good_and_a_bad_document(Path(outside))


def check_a_good_and_a_bad_document(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()
    (good / "report.json").write_text(dumps(run_report([cell()])))
    data = json.loads(dumps(run_report([cell()])))
    data["results"][0]["protection"]["ci95"] = [0.1]
    (bad / "report.json").write_text(json.dumps(data))
    counts: dict[str, int] = {}
    invalid = validate_documents(tmp_path, counts)
    assert counts == {"report.json": 2} and len(invalid) == 1
    assert "bad/report.json: results/0/protection/ci95" in invalid[0]


def test_from_json_names_what_is_missing_or_wrong():
    data = to_json(cell())
    with pytest.raises(RecordError, match=r"CellResult: no 'per_user'"):
        from_json(CellResult, {k: v for k, v in data.items() if k != "per_user"})
    with pytest.raises(RecordError, match=r"CellResult.protection.ci95: expected 2 values, found 1"):
        from_json(CellResult, {**data, "protection": {**data["protection"], "ci95": [0.5]}})
    with pytest.raises(RecordError, match="unknown document kind"):
        read_document("dance", {})


def test_a_version_1_report_reads_as_version_2():
    v1 = json.loads(V1_REPORT.read_text())
    assert v1["schema_version"] == 1 and "kind" not in v1
    report = read_document("run", v1)
    assert report.schema_version == 2 and report.kind == "run"
    assert len(report.results) == 24 and len(report.pooled) == 12 and report.cells.total == 24
    assert report.results[0].per_user[0].test_photos  # per-photo outcomes survive for McNemar
    jsonschema.validate(json.loads(dumps(report)), shipped_schema("run"))
    older = {**v1, "detection": [{**{k: v for k, v in d.items() if k not in ("cloak_detector", "extractor")},
                                  "detector": "2-means"} for d in v1["detection"]]}
    assert read_document("run", older).detection[0].extractor == "dlib-resnet"  # before detectors named models
