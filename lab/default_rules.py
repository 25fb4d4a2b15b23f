"""What counts as default (逾期定义), for lab users (SDK, CLI, sandbox): the rules of
:mod:`federation.default_rule`, re-exported so that the layers above the lab import the
lab only.

Revealed to whom: nothing here reads data; a rule is sample metadata, applied at the bank.
"""

from __future__ import annotations

from federation.default_rule import (
    BINARY,
    DaysPastDue,
    LabelIsBinary,
    StatusIn,
    describe,
    parse_rule,
    rule_from_text,
    stored_rule,
)

__all__ = [
    "BINARY",
    "DaysPastDue",
    "LabelIsBinary",
    "StatusIn",
    "describe",
    "parse_rule",
    "rule_from_text",
    "stored_rule",
]
