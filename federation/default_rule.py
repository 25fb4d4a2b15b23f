"""What counts as default (逾期定义): a sample's typed rule that turns its label column into
the 0/1 label, applied at the bank.

A sample version names one rule (:data:`DefaultRule`, validated by pydantic):

* ``label_is_binary`` (标签列已是 0/1): the label column already holds 0 (good) / 1 (bad);
* ``days_past_due`` (逾期天数 ≥ N): the label column holds days past due; a row is a
  default (1) when it is at least ``min_days`` (a positive whole number: 90 = 不良, 30 and
  60 are common);
* ``status_in`` (状态属于): the label column holds a status code (e.g. 五级分类); a row is a
  default when its code is one of ``codes`` (e.g. 次级/可疑/损失, 关注 left out), compared
  as trimmed text; the set may not be empty.

What is revealed to whom: the rule itself (kind, threshold, codes) is sample metadata, in
the catalog and in the run's public config like the label column's name. It is applied
only by the bank's own process (:func:`apply_rule`, from ``federation.partydata``), so no
value of the column, and no label, leaves the bank; the coordinator and the other parties
learn what they learned before (counts >= k where the code already reveals them). An
error names the file and the column, and how many rows are missing, never a value.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from crypto.errors import ConfigError, DataValidationError


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelIsBinary(_Rule):
    """The label column already holds 0 (good) / 1 (default)."""

    kind: Literal["label_is_binary"] = "label_is_binary"


class DaysPastDue(_Rule):
    """Default when the label column's days past due reach ``min_days``."""

    kind: Literal["days_past_due"] = "days_past_due"
    min_days: int = Field(gt=0, le=3650, strict=True)


class StatusIn(_Rule):
    """Default when the label column's status code is one of ``codes``."""

    kind: Literal["status_in"] = "status_in"
    codes: tuple[str, ...]

    @field_validator("codes")
    @classmethod
    def _clean(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        clean = sorted({str(c).strip() for c in codes} - {""})
        if not clean:
            raise ValueError("the set of default status codes may not be empty")
        return tuple(clean)


DefaultRule = Annotated[LabelIsBinary | DaysPastDue | StatusIn, Field(discriminator="kind")]
BINARY = LabelIsBinary()
_ADAPTER: TypeAdapter[LabelIsBinary | DaysPastDue | StatusIn] = TypeAdapter(DefaultRule)
_HINT = (
    'Use {"kind": "label_is_binary"}, {"kind": "days_past_due", "min_days": 90} or '
    '{"kind": "status_in", "codes": ["次级", "可疑", "损失"]}.'
)


def parse_rule(value: Any) -> LabelIsBinary | DaysPastDue | StatusIn:
    """A rule from its dict, its JSON, its short form (:func:`rule_from_text`), a rule, or
    None/"" (label_is_binary); a bad rule is a :class:`ConfigError` saying what is wrong."""
    if value is None or value == "" or value == {}:
        return BINARY
    if isinstance(value, LabelIsBinary | DaysPastDue | StatusIn):
        return value
    if isinstance(value, str) and not value.strip().startswith("{"):
        return rule_from_text(value)
    try:
        if isinstance(value, str):
            return _ADAPTER.validate_json(value)
        return _ADAPTER.validate_python(value)
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid default rule (逾期定义): {errs}", hint=_HINT) from None


_DPD = re.compile(r"^(?:dpd|days_past_due)\s*>=\s*(\S+)$", re.IGNORECASE)


def rule_from_text(text: str) -> LabelIsBinary | DaysPastDue | StatusIn:
    """A rule from its short form (CLI, forms): ``binary``, ``dpd>=90``,
    ``status:次级,可疑,损失`` (or a JSON object)."""
    s = text.strip()
    if s.startswith("{"):
        return parse_rule(s)
    if s.lower() in ("", "binary", "label_is_binary"):
        return BINARY
    dpd = _DPD.match(s)
    if dpd:
        raw = dpd.group(1)
        if not re.fullmatch(r"\d+", raw):
            raise ConfigError(
                f"invalid default rule (逾期定义) {text!r}: the days past due threshold must "
                "be a positive whole number",
                hint=_HINT,
            )
        return parse_rule({"kind": "days_past_due", "min_days": int(raw)})
    if s.lower().startswith(("status:", "status_in:")):
        codes = [c for c in re.split(r"[,，、]", s.split(":", 1)[1]) if c.strip()]
        return parse_rule({"kind": "status_in", "codes": codes})
    raise ConfigError(
        f"unknown default rule (逾期定义) {text!r}",
        hint="Write binary, dpd>=90 or status:次级,可疑,损失.",
    )


def rule_dict(rule: Any) -> dict[str, Any]:
    """The rule as a plain dict (as the catalog stores it)."""
    return parse_rule(rule).model_dump(mode="json")


def stored_rule(value: Any) -> dict[str, Any]:
    """A rule as the catalog stores it, from a dict, a rule, JSON or its short form
    (:func:`rule_from_text`); :class:`ConfigError` when it is not a valid rule."""
    return rule_dict(rule_from_text(value) if isinstance(value, str) else value)


def _any_rule(value: Any) -> LabelIsBinary | DaysPastDue | StatusIn:
    return rule_from_text(value) if isinstance(value, str) else parse_rule(value)


#: a config field holding a rule: a rule, its dict, its JSON or its short form
ConfigRule = Annotated[LabelIsBinary | DaysPastDue | StatusIn, BeforeValidator(_any_rule)]

#: a catalog field holding a rule (validated and normalized on the way in)
RuleDict = Annotated[dict[str, Any], BeforeValidator(stored_rule)]


def rule_json(rule: Any) -> str:
    """The rule as compact JSON ("" for label_is_binary: the wire's default)."""
    r = parse_rule(rule)
    return "" if isinstance(r, LabelIsBinary) else json.dumps(r.model_dump(mode="json"))


def describe(rule: Any, column: str) -> tuple[str, str]:
    """The rule in words, (Chinese, English), for forms, lineage and documents."""
    r = parse_rule(rule)
    if isinstance(r, DaysPastDue):
        return (
            f"{column} 逾期天数 ≥ {r.min_days} 天记为违约",
            f"default when {column} (days past due) >= {r.min_days}",
        )
    if isinstance(r, StatusIn):
        codes = "、".join(r.codes)
        return (
            f"{column} 属于 {{{codes}}} 记为违约",
            f"default when {column} is one of {{{', '.join(r.codes)}}}",
        )
    return (f"{column} 已是 0/1 标签", f"{column} is already the 0/1 label")


def apply_rule(table: pd.DataFrame, column: str, rule: Any, file_name: str) -> pd.Series:
    """The 0/1 label (int8) that ``rule`` makes of ``table[column]``, at the bank.

    Raises :class:`DataValidationError` naming ``file_name`` and ``column`` when the column
    is missing, when a row has no value, or (days past due) when a value is not a number;
    never a value.
    """
    r = parse_rule(rule)
    if column not in table.columns:
        raise DataValidationError(
            f"{file_name}: the default rule (逾期定义) reads column {column!r}, which is not in "
            "the bank's table",
            hint="Name the sample's label column as in the bank's table.",
        )
    raw = table[column]
    text = raw.astype("string").str.strip()
    missing = int((raw.isna() | (text.fillna("") == "")).sum())
    if missing:
        raise DataValidationError(
            f"{file_name}: column {column!r} has {missing} rows without a value; the default "
            "rule needs one per row",
            hint="Every sample needs a label; drop the rows without one.",
        )
    if isinstance(r, DaysPastDue):
        days = pd.to_numeric(raw, errors="coerce")
        bad = int(days.isna().sum())
        if bad:
            raise DataValidationError(
                f"{file_name}: column {column!r} has {bad} values that are not a number of "
                "days past due",
                hint="Days past due must be numbers (0 when never overdue).",
            )
        return pd.Series((days >= r.min_days).to_numpy(dtype=np.int8), index=table.index)
    if isinstance(r, StatusIn):
        hit = text.isin(set(r.codes)).fillna(False).to_numpy(dtype=bool)
        return pd.Series(hit.astype(np.int8), index=table.index)
    return pd.Series(raw.to_numpy(), index=table.index)


__all__ = [
    "BINARY",
    "ConfigRule",
    "DaysPastDue",
    "DefaultRule",
    "LabelIsBinary",
    "RuleDict",
    "StatusIn",
    "apply_rule",
    "describe",
    "parse_rule",
    "rule_dict",
    "rule_from_text",
    "rule_json",
    "stored_rule",
]
