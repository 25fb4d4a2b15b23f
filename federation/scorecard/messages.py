"""The messages of federated WOE/IV binning and of the scorecard: action names.

What each message reveals to whom is in the docstrings of ``federation.scorecard.woe``
(binning) and ``federation.scorecard`` (selection, points, report), and in
docs/protocols/woe_scorecard.md. Every message travels through the coordinator.
"""

from __future__ import annotations

#: federated binning: public parameters; encrypted labels; per-bin sums and counts;
#: merge instructions; PSI per feature
BIN, SUMS, MERGE, APPLY, PSI = "woe.bin", "woe.sums", "woe.merge", "woe.apply", "woe.psi"
#: scorecard: feature selection; the guest's automatic scale; points tables; the report
SELECT, SCALE, POINTS, REPORT = "sc.select", "sc.scale", "sc.points", "sc.report"
#: pairwise-mask purpose of the hosts' masked points (hetero LR uses 1-3)
PTS = 4

__all__ = ["APPLY", "BIN", "MERGE", "POINTS", "PSI", "PTS", "REPORT", "SCALE", "SELECT", "SUMS"]
