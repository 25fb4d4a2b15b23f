"""Local preprocessing: encodings, imputation, determinism, Standardizer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from features import synth
from features.encoding import PartyMatrix, Standardizer, TableEncoder, party_matrix
from lab.errors import DataValidationError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uscc": ["a", "b", "c", "d", "e"],
            "y": [0, 1, 0, 1, 0],
            "income": [1.0, np.nan, 3.0, 10.0, np.nan],
            "count": [1, 2, 3, 4, 5],
            "tax_credit_grade": ["A", "D", None, "M", "B"],
            "industry": ["C", "F", "C", None, "I"],
            "opened": ["2020-01-01", "1970-01-11", None, "2024-06-30", "2000-02-29"],
        }
    )


def test_encodings_by_hand() -> None:
    m = party_matrix(_frame(), id_column="uscc", label="y")
    assert m.ids.tolist() == ["a", "b", "c", "d", "e"]
    assert m.y is not None and m.y.tolist() == [0, 1, 0, 1, 0]
    assert m.feature_names == [
        "income",
        "income__missing",
        "count",
        "tax_credit_grade",
        "tax_credit_grade__missing",
        "industry=C",
        "industry=F",
        "industry=I",
        "industry__missing",
        "opened",
        "opened__missing",
    ]
    X = pd.DataFrame(m.X, columns=m.feature_names)
    assert X["income"].tolist() == [1.0, 3.0, 3.0, 10.0, 3.0]  # median of 1, 3, 10
    assert X["income__missing"].tolist() == [0, 1, 0, 0, 1]
    assert X["count"].tolist() == [1, 2, 3, 4, 5]
    assert X["tax_credit_grade"].tolist() == [0, 4, 1.5, 2, 1]  # A=0 B=1 M=2 C=3 D=4, median 1.5
    assert X["industry=C"].tolist() == [1, 0, 1, 0, 0]
    assert X["industry__missing"].tolist() == [0, 0, 0, 1, 0]
    days = [18262.0, 10.0, None, 19904.0, 11016.0]
    assert X["opened"].tolist()[:2] == days[:2] and X["opened"].iloc[3] == days[3]
    assert X["opened"].iloc[2] == np.median([18262, 10, 19904, 11016])
    assert m.X.dtype == np.float64 and m.X.flags.c_contiguous
    assert m.encodings["industry"] == "onehot" and m.encodings["opened"] == "date"


def test_frequency_coding_for_many_categories_and_overrides() -> None:
    df = pd.DataFrame(
        {
            "id": [str(i) for i in range(8)],
            "city": ["a", "a", "a", "b", "b", "c", "d", "e"],
            "note": list("abcdefgh"),
        }
    )
    m = party_matrix(df, id_column="id", max_onehot=3, categorical={"note": "drop"})
    assert m.feature_names == ["city__freq"]
    assert m.X[:, 0].tolist() == [3 / 8] * 3 + [2 / 8] * 2 + [1 / 8] * 3
    m2 = party_matrix(df, id_column="id", categorical={"city": "onehot", "note": "drop"})
    assert m2.feature_names == [f"city={c}" for c in "abcde"]


def test_unknown_grade_and_encoding_rejected() -> None:
    df = pd.DataFrame({"id": ["1", "2"], "tax_credit_grade": ["A", "SNTLGRADE"]})
    with pytest.raises(DataValidationError, match=r"'tax_credit_grade': 1 values outside") as info:
        party_matrix(df, id_column="id")
    # the grade found is for the party's own operator: not in what may leave the party
    assert "first: 'SNTLGRADE'" in str(info.value)
    assert "SNTLGRADE" not in info.value.public_message()
    with pytest.raises(DataValidationError, match="unknown encoding"):
        party_matrix(df, id_column="id", categorical={"tax_credit_grade": "magic"})  # type: ignore[dict-item]
    with pytest.raises(DataValidationError, match="ID column 'uscc'"):
        party_matrix(df, id_column="uscc")


def test_deterministic_and_row_order_independent_names() -> None:
    tables = synth.generate(2000, 3, dirty=True)
    mr = tables["market_regulation"].drop_duplicates("uscc").reset_index(drop=True)
    a = party_matrix(mr, id_column="uscc")
    b = party_matrix(mr.copy(), id_column="uscc")
    c = party_matrix(mr.sample(frac=1.0, random_state=1), id_column="uscc")
    assert np.array_equal(a.X, b.X) and a.feature_names == b.feature_names
    assert c.feature_names == a.feature_names
    assert np.allclose(c.select(a.ids).X, a.X)
    assert not np.isnan(a.X).any()
    assert "registered_capital__missing" in a.feature_names
    with pytest.raises(DataValidationError, match="not unique"):
        party_matrix(tables["market_regulation"], id_column="uscc").select(a.ids[:2])


def test_select_and_take() -> None:
    m = party_matrix(_frame(), id_column="uscc", label="y")
    s = m.select(["d", "a"])
    assert s.ids.tolist() == ["d", "a"] and s.y is not None and s.y.tolist() == [1, 0]
    assert np.array_equal(s.X, m.X[[3, 0]])
    assert m.take(np.array([1])).ids.tolist() == ["b"]
    with pytest.raises(DataValidationError, match="1 requested IDs are not in"):
        m.select(["a", "zz"])
    with pytest.raises(DataValidationError, match="does not match"):
        PartyMatrix(np.array(["a"]), np.zeros((2, 1)), ["x"])


def test_fitted_encoder_encodes_new_rows_with_training_statistics() -> None:
    # Prepare: the encoder fitted by party_matrix on _frame(), through JSON (a model piece)
    m = party_matrix(_frame(), id_column="uscc", label="y")
    assert m.encoder is not None and m.take(np.array([0])).encoder is m.encoder
    enc = TableEncoder.from_dict(json.loads(json.dumps(m.encoder.to_dict())))
    new = pd.DataFrame(
        {
            "uscc": ["p", "q"],
            "income": [None, 500.0],  # missing -> training median 3, flag; beyond range kept
            "count": [None, 2],  # no missing at training: median 3, no flag column
            "tax_credit_grade": ["C", None],  # C = 3; missing -> training median 1.5
            "industry": ["Z", None],  # unseen -> all 0; missing -> the flag
            "opened": [None, "1970-01-02"],
            "extra": [1, 2],  # not a training column: ignored
        }
    )
    # Execute
    X = pd.DataFrame(enc.transform(new), columns=enc.feature_names)
    # Assert: hand-computed from _frame()'s rows, not from the two new ones
    assert enc.feature_names == m.feature_names
    assert X["income"].tolist() == [3.0, 500.0] and X["income__missing"].tolist() == [1, 0]
    assert X["count"].tolist() == [3.0, 2.0]
    assert X["tax_credit_grade"].tolist() == [3.0, 1.5]
    assert X["tax_credit_grade__missing"].tolist() == [0, 1]
    assert X[["industry=C", "industry=F", "industry=I"]].to_numpy().sum() == 0
    assert X["industry__missing"].tolist() == [0, 1]
    assert X["opened"].tolist() == [np.median([18262, 10, 19904, 11016]), 1.0]
    # one row alone is encoded as inside the batch; the training rows as at training
    assert np.array_equal(enc.transform(new.iloc[[1]]), X.to_numpy()[[1]])
    assert np.array_equal(enc.transform(_frame()), m.X)
    with pytest.raises(DataValidationError, match=r"\['industry'\].*not in the table"):
        enc.transform(new.drop(columns="industry"))
    with pytest.raises(DataValidationError, match="'tax_credit_grade': 1 values outside"):
        enc.transform(new.assign(tax_credit_grade=["A", "Q"]))


def test_frequency_shares_are_the_training_shares() -> None:
    df = pd.DataFrame(
        {"id": [str(i) for i in range(8)], "city": ["a", "a", "a", "b", "b", "c", None, "e"]}
    )
    enc = party_matrix(df, id_column="id", max_onehot=3).encoder
    assert enc is not None and enc.feature_names == ["city__freq", "city__freq__missing"]
    new = pd.DataFrame({"city": ["b", "zz", None]})
    # b: 2 of the 8 training rows; unseen: share 0; missing: median of the training shares
    fill = np.median([3 / 8] * 3 + [2 / 8] * 2 + [1 / 8] * 2)
    assert enc.transform(new)[:, 0].tolist() == [2 / 8, 0.0, fill]
    assert enc.transform(new)[:, 1].tolist() == [0, 0, 1]


def test_standardizer_matches_sklearn_on_given_rows() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, size=(200, 4))
    X[:, 2] = 7.0  # constant column
    rows = np.arange(0, 200, 2)
    st = Standardizer().fit(X, rows)
    ref = StandardScaler().fit(X[rows])
    assert np.allclose(st.mean_, ref.mean_)
    assert np.allclose(st.transform(X), ref.transform(X))
    again = Standardizer.from_dict(st.to_dict())
    assert np.array_equal(again.transform(X), st.transform(X))
    with pytest.raises(DataValidationError, match="before fit"):
        Standardizer().transform(X)
    with pytest.raises(DataValidationError, match="fitted on 4 columns, got 3"):
        st.transform(X[:, :3])
