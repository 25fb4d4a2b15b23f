"""Parameter forms generated from an algorithm's parameter schema (算法库).

Each schema entry ``{"type": int|float|bool|str, "default", "min", "max", "choices"}``
becomes one widget with those bounds; lab.services.catalog.validate_params has the last
word when the experiment is created and submitted.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def param_inputs(
    schema: dict[str, dict[str, Any]], key: str, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Widgets for every parameter of ``schema``; returns the chosen values."""
    values = values or {}
    out: dict[str, Any] = {}
    cols = st.columns(3)
    for i, (name, spec) in enumerate(schema.items()):
        ptype = spec.get("type", "str")
        current = values.get(name, spec.get("default"))
        wkey = f"{key}.{name}"
        with cols[i % 3]:
            if "choices" in spec:
                choices = list(spec["choices"])
                index = choices.index(current) if current in choices else 0
                out[name] = st.selectbox(name, choices, index=index, key=wkey)
            elif ptype == "bool":
                out[name] = st.checkbox(name, value=bool(current), key=wkey)
            elif ptype == "int":
                lo, hi = spec.get("min"), spec.get("max")
                out[name] = int(
                    st.number_input(
                        name,
                        min_value=int(lo) if lo is not None else None,
                        max_value=int(hi) if hi is not None else None,
                        value=int(current) if current is not None else int(lo or 0),
                        step=1,
                        key=wkey,
                    )
                )
            elif ptype == "float":
                lo, hi = spec.get("min"), spec.get("max")
                out[name] = float(
                    st.number_input(
                        name,
                        min_value=float(lo) if lo is not None else None,
                        max_value=float(hi) if hi is not None else None,
                        value=float(current) if current is not None else float(lo or 0.0),
                        format="%g",
                        key=wkey,
                    )
                )
            else:
                out[name] = st.text_input(name, value=str(current or ""), key=wkey)
    return out


def schema_rows(schema: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The schema as table rows: parameter, type, default, range or choices."""
    rows = []
    for name, spec in schema.items():
        if "choices" in spec:
            rng = ", ".join(str(c) for c in spec["choices"])
        else:
            lo, hi = spec.get("min"), spec.get("max")
            rng = (
                ""
                if lo is None and hi is None
                else f"[{lo if lo is not None else '-∞'}, {hi if hi is not None else '∞'}]"
            )
        rows.append(
            {
                "param": name,
                "type": str(spec.get("type", "")),
                "default": str(spec.get("default", "")),
                "range": rng,
            }
        )
    return rows


__all__ = ["param_inputs", "schema_rows"]
