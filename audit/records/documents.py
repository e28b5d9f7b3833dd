"""The four documents cloak-audit writes, by kind, and the file each command writes it to."""

from __future__ import annotations

from audit.records.compare import CompareReport
from audit.records.run import RunReport
from audit.records.scorecard import ScoreCard
from audit.records.verify import VerifyReport

Document = RunReport | VerifyReport | CompareReport | ScoreCard
DOCUMENTS: dict[str, type] = {"run": RunReport, "verify": VerifyReport, "compare": CompareReport,
                              "scorecard": ScoreCard}
# as each command writes it
FILE_NAMES = {"run": "report.json", "verify": "verify.json", "compare": "compare.json", "scorecard": "scorecard.json"}
