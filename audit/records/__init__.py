"""The shapes of what cloak-audit writes, as frozen dataclasses: the run, verify, compare, scorecard and
extractor-check documents and every part of them (a cell's result, a rate with its interval, a per-user row,
perceptual cost, detection, a skip), one module per document beside the parts they share.

Producers build these records and renderers read their attributes. `to_json` and `from_json`
(`serialisation`) are the only places where a record becomes a dict or comes back from one, and the JSON Schema
shipped for each document (`audit/schemas/`) is derived from the same types (`schema`), so the types, the files
and the schemas cannot drift apart. A version-1 document (written before the records were typed) is read through
`read_document`, so `audit compare` and `audit history` keep working on old runs.
"""

from audit.records.compare import ComparedCell, CompareReport, EqualCostComparison, EqualCostPoint, McNemar, RunSummary
from audit.records.documents import DOCUMENTS, FILE_NAMES, Document
from audit.records.extractor_check import ExtractorCheck, FoldAccuracy
from audit.records.parts import (SCHEMA_VERSION, CellCounts, CloakerRecord, Environment, ExamplePair, Perturbation,
                                 Rate, Skip, json_name, record)
from audit.records.run import (BudgetCost, CellResult, ClassScore, CloudUse, Confusion, CostCurve, CurvePoint,
                               Detection, DroppedPhotos, OverSeeds, PooledRate, PooledResult, ProtocolRecord, RankK,
                               RunReport, Scenario, UserRow)
from audit.records.schema import json_schema, schema_file, shipped_schema, write_schemas
from audit.records.scorecard import ScoreCard, ScoreCell
from audit.records.serialisation import RecordError, dumps, from_json, read_document, to_json, upgrade_v1
from audit.records.verify import CrowdRecord, MissingModel, PersonRecord, VerifyReport, VerifyResult

__all__ = ["DOCUMENTS", "FILE_NAMES", "SCHEMA_VERSION", "BudgetCost", "CellCounts", "CellResult", "ClassScore",
           "CloakerRecord", "CloudUse", "ComparedCell", "CompareReport", "Confusion", "CostCurve", "CrowdRecord",
           "CurvePoint", "Detection", "Document", "DroppedPhotos", "Environment", "EqualCostComparison",
           "EqualCostPoint", "ExamplePair", "ExtractorCheck", "FoldAccuracy", "McNemar", "MissingModel", "OverSeeds",
           "Perturbation", "PersonRecord", "PooledRate", "PooledResult", "ProtocolRecord", "RankK", "Rate",
           "RecordError", "RunReport", "RunSummary", "Scenario", "ScoreCard", "ScoreCell", "Skip", "UserRow",
           "VerifyReport", "VerifyResult", "dumps", "from_json", "json_name", "json_schema", "read_document",
           "record", "schema_file", "shipped_schema", "to_json", "upgrade_v1", "write_schemas"]
