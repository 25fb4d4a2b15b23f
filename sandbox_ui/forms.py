"""Parameter forms generated from an algorithm's parameter schema (算法库).

Each schema entry ``{"type": int|float|bool|str, "default", "min", "max", "choices",
"help", "advanced"}`` (generated from the algorithm registry's parameter model) becomes one
widget with those bounds; ``advanced`` parameters sit in a folded section.
lab.services.catalog.validate_params has the last word when the experiment is created and
submitted. Only parameter values are shown here, never data.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def param_inputs(
    schema: dict[str, dict[str, Any]], key: str, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Widgets for every parameter of ``schema``; returns the chosen values.

    The main parameters come first; ``advanced`` ones are folded under 高级参数.
    """
    values = values or {}
    main = {n: s for n, s in schema.items() if not s.get("advanced")}
    advanced = {n: s for n, s in schema.items() if s.get("advanced")}
    out = _widgets(main, key, values)
    if advanced:
        with st.expander(f"高级参数 / Advanced ({len(advanced)})", expanded=False):
            out.update(_widgets(advanced, key, values))
    return out


def _bound(spec: dict[str, Any], side: str, step: float) -> float | None:
    """A widget bound: an exclusive bound moves one step inside (ints) or is left open."""
    value = spec.get(side)
    if value is None:
        return None
    if not spec.get(f"{side}_exclusive"):
        return float(value)
    if spec.get("type") == "int":
        return float(value) + (step if side == "min" else -step)
    return None


def _widgets(schema: dict[str, dict[str, Any]], key: str, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cols = st.columns(3)
    for i, (name, spec) in enumerate(schema.items()):
        with cols[i % 3]:
            out[name] = _widget(name, spec, values.get(name, spec.get("default")), f"{key}.{name}")
    return out


def _widget(name: str, spec: dict[str, Any], current: Any, wkey: str) -> Any:
    ptype = spec.get("type", "str")
    help_text = spec.get("help")
    if "choices" in spec:
        choices = list(spec["choices"])
        index = choices.index(current) if current in choices else 0
        return st.selectbox(name, choices, index=index, key=wkey, help=help_text)
    if ptype == "bool":
        return st.checkbox(name, value=bool(current), key=wkey, help=help_text)
    if ptype in ("int", "float"):
        is_int = ptype == "int"
        lo, hi = _bound(spec, "min", 1), _bound(spec, "max", 1)
        cast = int if is_int else float
        start = current if current is not None else (lo or 0)
        return cast(
            st.number_input(
                name,
                min_value=None if lo is None else cast(lo),
                max_value=None if hi is None else cast(hi),
                value=cast(start),
                step=1 if is_int else None,
                format=None if is_int else "%g",
                key=wkey,
                help=help_text,
            )
        )
    return st.text_input(name, value=str(current or ""), key=wkey, help=help_text)


def schema_rows(schema: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The schema as table rows: parameter, type, default, range or choices."""
    rows = []
    for name, spec in schema.items():
        if "choices" in spec:
            rng = ", ".join(str(c) for c in spec["choices"])
        else:
            lo, hi = spec.get("min"), spec.get("max")
            left = "(" if spec.get("min_exclusive") else "["
            right = ")" if spec.get("max_exclusive") else "]"
            lo_s = "-∞" if lo is None else lo
            hi_s = "∞" if hi is None else hi
            rng = "" if lo is None and hi is None else f"{left}{lo_s}, {hi_s}{right}"
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
