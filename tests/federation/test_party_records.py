"""Registry indicators computed at the party from its raw records, at run time, as of the
run's observation date (federation.partyrecords): a host whose data is a folder of
``records_<table>.csv`` computes exactly the indicator table the generator wrote from the
same records (``indicators_<owner>.csv``, pandas on the raw frames); a record dated after
the observation date changes nothing, one dated before does; a run on record folders trains
the same model as a run on the precomputed tables; the bank can train from its own records
with ``labels.csv``; bad record files and a run without a date fail at the party, naming
the party, the file and the column.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features import synth
from features.indicators import tables_of
from features.synth_records import write_records
from federation.config import parse_config
from federation.party import PartyContext
from federation.partydata import clear_cache, load_table, setup_party
from federation.roles import PartyRole
from federation.run import run_experiment
from lab.errors import DataValidationError, PartyError

AS_OF = "2024-06-30"
N, SEED = 1200, 23
HOSTS = {
    "tax": ["TX_PAID_12M", "TX_LATE_FILINGS_12M", "TX_INVOICE_CV_12M", "FS_DEBT_TO_ASSET"],
    "social_insurance": ["SI_EMPLOYEES_LATEST", "SI_ARREARS_MONTHS_12M", "SI_EMPLOYEE_CHANGE_12M"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's records and indicator tables in ``all/``, one record folder per
    party, and the bank's table."""
    d = tmp_path_factory.mktemp("party_records")
    write_records(d / "all", N, SEED, as_of=AS_OF)
    synth.write(d, synth.generate(N, SEED))
    for party in [*HOSTS, "bank"]:
        (d / party).mkdir()
        for t in tables_of(party):
            shutil.copy(d / "all" / f"records_{t}.csv", d / party / f"records_{t}.csv")
    return d


def host_table(folder: Path, party: str, codes: list[str], as_of: str = AS_OF) -> pd.DataFrame:
    """The host's table as its own process reads it for a run's setup."""
    clear_cache()
    ctx = PartyContext(
        name=party, role=PartyRole.HOST, data_path=folder, work_dir=folder.parent / "work"
    )
    setup_party(
        ctx,
        {
            "run_id": "r",
            "role": "host",
            "id_column": "uscc",
            "as_of": as_of,
            "features": codes,
        },
    )
    return load_table(ctx)


@pytest.mark.parametrize("party", list(HOSTS))
def test_the_host_computes_the_generators_indicators_from_its_records(
    data: Path, party: str
) -> None:
    got = host_table(data / party, party, HOSTS[party])
    want = pd.read_csv(data / "all" / f"indicators_{party}.csv", dtype={"uscc": str})
    want = want[["uscc", *HOSTS[party]]].sort_values("uscc").reset_index(drop=True)
    assert list(got.columns) == ["uscc", *HOSTS[party]]
    got = got.sort_values("uscc").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    assert len(got) >= 0.5 * N  # most enterprises have records at each agency


def _planted(folder: Path, tmp: Path, table: str, when: str) -> Path:
    """A copy of ``folder`` where every enterprise's last record of ``table`` is repeated
    with the date ``when`` and ten times its amounts."""
    out = tmp / f"{folder.name}-{when}"
    shutil.copytree(folder, out)
    path = out / f"records_{table}.csv"
    df = pd.read_csv(path, dtype=str)
    extra = df.groupby("uscc").tail(1).copy()
    extra["period"] = when
    for c in ("tax_paid", "invoice_amount", "invoice_count"):
        extra[c] = (pd.to_numeric(extra[c]) * 10).astype(str)
    pd.concat([df, extra]).to_csv(path, index=False)
    return out


def test_a_record_after_the_observation_date_changes_nothing_one_before_does(
    data: Path, tmp_path: Path
) -> None:
    codes = ["TX_PAID_12M", "TX_INVOICE_CV_12M"]
    before = host_table(data / "tax", "tax", codes)
    later = host_table(_planted(data / "tax", tmp_path, "tax", "2024-07-31"), "tax", codes)
    pd.testing.assert_frame_equal(later, before)
    earlier = host_table(_planted(data / "tax", tmp_path, "tax", "2024-06-30"), "tax", codes)
    assert (earlier["TX_PAID_12M"] > before["TX_PAID_12M"]).mean() > 0.9


def test_another_observation_date_gives_other_values(data: Path) -> None:
    codes = ["TX_PAID_12M"]
    now = host_table(data / "tax", "tax", codes).set_index("uscc")["TX_PAID_12M"]
    then = host_table(data / "tax", "tax", codes, "2023-06-30").set_index("uscc")["TX_PAID_12M"]
    both = now.index.intersection(then.index)
    assert len(both) > 100 and (now[both] != then[both]).mean() > 0.9


def config(data: Path, *, records: bool, bank: str = "bank.csv", **exp: Any) -> Any:
    features = {"bank": ["acct_avg_balance", "acct_months_active"], **HOSTS}
    if bank != "bank.csv":
        features["bank"] = ["BK_INFLOW_AVG_12M", "BK_INFLOW_CV_12M"]
    hosts = [{"name": p, "role": "host", "data": p if records else f"{p}.table.csv"} for p in HOSTS]
    experiment = {"as_of": AS_OF, **exp}
    if experiment["as_of"] is None:
        del experiment["as_of"]
    return parse_config(
        {
            "experiment": {
                "name": "records",
                "algorithm": "hetero_lr",
                "backend": "plaintext",
                "id_column": "uscc",
                "runtime": "local",
                "seed": 5,
                "features": features,
                **experiment,
            },
            "params": {"epochs": 3, "batch_size": -1, "learning_rate": 1.0},
            "parties": [
                {"name": "bank", "role": "guest", "data": bank, "label": "default_12m"},
                *hosts,
            ],
        },
        base_dir=data,
    )


def test_a_run_on_record_folders_trains_the_model_of_the_precomputed_tables(
    data: Path, tmp_path: Path
) -> None:
    for party in HOSTS:  # the same indicators, computed ahead by the generator
        shutil.copy(data / "all" / f"indicators_{party}.csv", data / f"{party}.table.csv")
    from_records = run_experiment(config(data, records=True), tmp_path / "records").metrics
    from_tables = run_experiment(config(data, records=False), tmp_path / "tables").metrics
    assert from_records["n_aligned"] == from_tables["n_aligned"] >= 300
    for key in ("auc", "ks", "loss"):  # equal up to the runs' masking noise (~1e-10)
        assert from_records[key] == pytest.approx(from_tables[key], rel=1e-7, abs=1e-9), key
    assert from_records["auc"] > 0.6


def test_the_bank_trains_from_its_own_records_and_labels(data: Path, tmp_path: Path) -> None:
    bank = pd.read_csv(data / "bank.csv", dtype={"uscc": str})
    labels = bank[["uscc", "default_12m"]]
    labels.to_csv(data / "bank" / "labels.csv", index=False)
    metrics = run_experiment(config(data, records=True, bank="bank"), tmp_path).metrics
    hosts = set.intersection(*(set(host_table(data / p, p, HOSTS[p])["uscc"]) for p in HOSTS))
    assert metrics["n_aligned"] == len(set(labels["uscc"]) & hosts)
    assert 0.5 < metrics["auc"] <= 1.0


def test_a_run_without_an_observation_date_fails_at_the_party(data: Path, tmp_path: Path) -> None:
    with pytest.raises(PartyError, match="observation date") as err:
        run_experiment(config(data, records=True, as_of=None), tmp_path)
    assert "'tax'" in str(err.value) or "'social_insurance'" in str(err.value)


def test_numbers_written_as_text_in_a_record_file_fail_naming_file_and_column(
    data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "tax"
    shutil.copytree(data / "tax", folder)
    path = folder / "records_tax.csv"
    df = pd.read_csv(path, dtype=str)
    df["tax_paid"] = [f"{float(v):,.2f}" for v in df["tax_paid"]]
    df.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        host_table(folder, "tax", ["TX_PAID_12M"])
    assert "records_tax.csv" in str(err.value) and "'tax_paid'" in str(err.value)


def test_a_ragged_record_file_and_a_missing_one_are_refused(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tax"
    shutil.copytree(data / "tax", folder)
    with (folder / "records_tax.csv").open("a") as fh:
        fh.write("91110000802100433B,2024-05-31,1.0\n")
    with pytest.raises(DataValidationError, match="records_tax.csv"):
        host_table(folder, "tax", ["TX_PAID_12M"])
    (folder / "records_tax_statements.csv").unlink()
    with pytest.raises(DataValidationError, match="records_tax_statements.csv"):
        host_table(folder, "tax", ["FS_DEBT_TO_ASSET"])


def test_an_indicator_of_another_owner_is_refused_at_the_party(data: Path) -> None:
    with pytest.raises(DataValidationError, match="not 'tax'"):
        host_table(data / "tax", "tax", ["SI_EMPLOYEES_LATEST"])
    with pytest.raises(DataValidationError, match="not registry indicators"):
        host_table(data / "tax", "tax", ["taxes_paid_12m"])


def test_values_never_leave_in_an_error(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tax"
    shutil.copytree(data / "tax", folder)
    path = folder / "records_tax.csv"
    df = pd.read_csv(path, dtype=str)
    df.loc[3, "tax_paid"] = "12345.67元"
    df.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        host_table(folder, "tax", ["TX_PAID_12M"])
    assert "12345.67" not in err.value.public_message()
