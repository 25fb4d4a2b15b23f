"""The client's building blocks: the connection a section calls through, one section, and
the table of public records every list returns.

What it reveals, to whom: nothing itself; the records come from lab.services, so a
section sees what the connected user may see (metadata and aggregates at k)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Caller(Protocol):
    """What a section needs of the connection: one service call as the connected user."""

    def call(self, fn: Callable[..., T], **kwargs: Any) -> T: ...


class Table(list[T]):
    """A list of public records that shows as a table in Jupyter and converts to pandas."""

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([r.model_dump() for r in self])  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        if not self:
            return "<i>(none)</i>"
        return str(self.to_frame().to_html(index=False, max_rows=60))


class Part:
    """One section of the client (``lab.indicators``, ``lab.samples`` ...)."""

    def __init__(self, lab: Caller) -> None:
        self.lab = lab


__all__ = [
    "Caller",
    "Part",
    "Table",
]
