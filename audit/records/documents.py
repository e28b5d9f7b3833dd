"""The documents cloak-audit writes, by kind, and the file each command writes it to."""

from __future__ import annotations

from audit.records.compare import CompareReport
from audit.records.extractor_check import ExtractorCheck
from audit.records.run import RunReport
from audit.records.scorecard import ScoreCard
from audit.records.verify import VerifyReport

Document = RunReport | VerifyReport | CompareReport | ScoreCard | ExtractorCheck
DOCUMENTS: dict[str, type] = {"run": RunReport, "verify": VerifyReport, "compare": CompareReport,
                              "scorecard": ScoreCard, "extractor-check": ExtractorCheck}
# as each command writes it (check-extractor writes where --json says)
FILE_NAMES = {"run": "report.json", "verify": "verify.json", "compare": "compare.json", "scorecard": "scorecard.json"}
