"""What counts as default (federation.default_rule), applied at the bank in real local runs:
the labels the guest trains on are its rule applied to its own label column, their positive
counts equal to pandas on the bank's table; bad rules are refused with clear errors, and a
rule naming a column the bank's table lacks fails at the bank naming the file and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.synth import generate
from federation import default_rule as dr
from federation.config import parse_config
from federation.run import run_experiment
from lab.errors import ConfigError, PartyError

STATUSES = np.array(["正常", "关注", "次级", "可疑", "损失"])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("default_rule")
    tables = generate(1200, 31, banks=("bank_a",))
    rng = np.random.default_rng(7)
    bank = tables["bank_a"].assign(
        dpd_max_12m=rng.choice(
            [0, 0, 0, 5, 15, 31, 45, 61, 89, 90, 120, 200], len(tables["bank_a"])
        ),
        risk_class=rng.choice(STATUSES, len(tables["bank_a"]), p=[0.6, 0.15, 0.1, 0.1, 0.05]),
    )
    bank.to_csv(d / "bank_a.csv", index=False)
    tables["tax"].to_csv(d / "tax.csv", index=False)
    return {"dir": d, "bank": bank, "tax": tables["tax"]}


def config(files: dict[str, Any], label: str, rule: Any) -> Any:
    guest: dict[str, Any] = {"name": "bank_a", "role": "guest", "data": "bank_a.csv"}
    guest |= {"label": label, **({"default_rule": rule} if rule is not None else {})}
    return parse_config(
        {
            "experiment": {
                "name": "default-rule",
                "algorithm": "hetero_lr",
                "backend": "plaintext",
                "id_column": "uscc",
                "runtime": "local",
                "features": {"bank_a": ["acct_avg_balance"], "tax": ["taxes_paid_12m"]},
            },
            "params": {"epochs": 1},
            "parties": [guest, {"name": "tax", "role": "host", "data": "tax.csv"}],
        },
        base_dir=files["dir"],
    )


def trained_labels(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, Any], tmp: Path, label: str, rule: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """The labels the guest's hetero LR trains on (seen in its own process), and the metrics."""
    import federation.hetero_lr.guest as guest

    seen: list[np.ndarray] = []
    real = guest.validation_rows

    def spy(ctx: Any, y: np.ndarray, *args: Any) -> np.ndarray:
        seen.append(np.asarray(y).copy())
        return real(ctx, y, *args)

    monkeypatch.setattr(guest, "validation_rows", spy)
    metrics = dict(run_experiment(config(files, label, rule), tmp).metrics)
    assert len(seen) == 1
    return seen[0], metrics


def aligned(files: dict[str, Any]) -> pd.DataFrame:
    return files["bank"].merge(files["tax"][["uscc"]], on="uscc")


@pytest.mark.parametrize("days", [30, 90])
def test_a_days_past_due_rule_decides_the_labels_at_the_bank(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, Any], tmp_path: Path, days: int
) -> None:
    rule = {"kind": "days_past_due", "min_days": days}
    y, metrics = trained_labels(monkeypatch, files, tmp_path, "dpd_max_12m", rule)
    rows = aligned(files)
    assert y.size == len(rows) == metrics["n_aligned"]
    assert int(y.sum()) == int((rows["dpd_max_12m"] >= days).sum())
    assert set(np.unique(y)) == {0.0, 1.0}


def test_thirty_and_ninety_days_give_different_labels(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, Any], tmp_path: Path
) -> None:
    y30, _ = trained_labels(monkeypatch, files, tmp_path / "30", "dpd_max_12m", "dpd>=30")
    y90, _ = trained_labels(monkeypatch, files, tmp_path / "90", "dpd_max_12m", "dpd>=90")
    assert y30.sum() > y90.sum() > 0  # 30+ holds every 90+ and more


def test_a_status_rule_decides_the_labels_at_the_bank(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, Any], tmp_path: Path
) -> None:
    codes = ["次级", "可疑", "损失"]  # 关注 is not a default here
    rule = {"kind": "status_in", "codes": codes}
    y, _ = trained_labels(monkeypatch, files, tmp_path, "risk_class", rule)
    assert int(y.sum()) == int(aligned(files)["risk_class"].isin(codes).sum())


def test_without_a_rule_the_label_column_is_taken_as_0_1(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, Any], tmp_path: Path
) -> None:
    y, _ = trained_labels(monkeypatch, files, tmp_path, "default_12m", None)
    assert int(y.sum()) == int(aligned(files)["default_12m"].sum())


def test_a_rule_on_a_missing_column_fails_at_the_bank_naming_file_and_column(
    files: dict[str, Any], tmp_path: Path
) -> None:
    cfg = config(files, "dpd_90_missing", "dpd>=90")
    with pytest.raises(PartyError) as err:
        run_experiment(cfg, tmp_path)
    assert "bank_a.csv" in str(err.value) and "dpd_90_missing" in str(err.value)


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"kind": "days_past_due", "min_days": 0}, "greater than 0"),
        ({"kind": "days_past_due", "min_days": -30}, "greater than 0"),
        ({"kind": "days_past_due", "min_days": 2.5}, "integer"),
        ({"kind": "days_past_due"}, "min_days"),
        ({"kind": "status_in", "codes": []}, "may not be empty"),
        ({"kind": "status_in", "codes": [" ", ""]}, "may not be empty"),
        ({"kind": "overdue_ever"}, "kind"),
        ("dpd>=abc", "positive whole number"),
        ("dpd>=0", "greater than 0"),
        ("sometimes", "unknown default rule"),
    ],
)
def test_bad_rules_are_refused_with_clear_errors(rule: Any, words: str) -> None:
    parse = dr.rule_from_text if isinstance(rule, str) else dr.parse_rule
    with pytest.raises(ConfigError) as err:
        parse(rule)
    assert words in str(err.value) and "逾期定义" in str(err.value)


def test_short_forms_and_descriptions() -> None:
    assert dr.rule_from_text("DPD >= 60") == dr.DaysPastDue(min_days=60)
    assert dr.rule_from_text("status:次级，可疑、损失") == dr.StatusIn(
        codes=("次级", "可疑", "损失")
    )
    assert dr.rule_from_text("binary") == dr.BINARY == dr.parse_rule(None)
    zh, en = dr.describe("dpd>=90", "dpd_max_12m")
    assert "≥ 90" in zh and ">= 90" in en
    assert (
        dr.rule_json(None) == "" and dr.parse_rule(dr.rule_json("dpd>=30")).kind == "days_past_due"
    )


def test_a_host_may_not_name_a_rule(files: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="the sample is the guest's"):
        parse_config(
            {
                "experiment": {
                    "name": "x",
                    "algorithm": "hetero_lr",
                    "backend": "plaintext",
                    "id_column": "uscc",
                    "runtime": "local",
                },
                "params": {"epochs": 1},
                "parties": [
                    {
                        "name": "bank_a",
                        "role": "guest",
                        "data": "bank_a.csv",
                        "label": "default_12m",
                    },
                    {"name": "tax", "role": "host", "data": "tax.csv", "default_rule": "dpd>=90"},
                ],
            },
            base_dir=files["dir"],
        )
