"""Per-browser-session plumbing: the catalog engine, the signed-in principal, one service
call per transaction, and the page guard.

Every call goes through lab.services as the signed-in user, so the sandbox sees exactly
what the SDK and the CLI see: metadata and aggregates, never a raw record. The catalog
URL comes from ``FEDLAB_DATABASE_URL`` (``fedlab ui`` sets it); it may carry a password,
so it is never shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import streamlit as st
from sqlalchemy import Engine

from lab.disclosure import DEFAULT_MIN_CELL
from lab.errors import LabError
from lab.services import disclosure
from lab.services.access import Principal
from lab.services.connection import open_catalog, session_scope
from sandbox_ui.i18n import t
from sandbox_ui.navigation import BY_KEY, may_open

T = TypeVar("T")
PRINCIPAL = "principal"
MIN_CELL_ENV = "FEDLAB_UI_MIN_CELL"


def catalog_url() -> str:
    url = os.environ.get("FEDLAB_DATABASE_URL")
    if url:
        return url
    from lab.settings import get_settings

    return get_settings().database_url_value


def min_cell() -> int:
    """k: the smallest number of enterprises any number shown about data may aggregate
    (``fedlab ui --min-cell``, else the lab setting); pages pass it to the services."""
    raw = os.environ.get(MIN_CELL_ENV, "")
    return disclosure.min_cell(int(raw) if raw.strip().isdigit() else None)


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return open_catalog(url)  # the lab migrates the catalog, not the sandbox


def engine() -> Engine:
    return _engine(catalog_url())


def principal() -> Principal | None:
    p = st.session_state.get(PRINCIPAL)
    return p if isinstance(p, Principal) else None


def call(fn: Callable[..., T], **kwargs: Any) -> T:
    """Run one service function in its own transaction as the signed-in user."""
    me = principal()
    if me is None:
        raise RuntimeError("no signed-in user")
    with session_scope(engine()) as s:
        return fn(session=s, actor=me, **kwargs)


def run(fn: Callable[..., T], **kwargs: Any) -> T | None:
    """``call`` that shows a lab error on the page (its message and hint) and returns None."""
    try:
        return call(fn, **kwargs)
    except LabError as exc:
        st.error(t("error", msg=str(exc)))
        return None


def show_invalid(exc: Any) -> None:
    """A form's pydantic validation error as one line per field: 'name: what is wrong'."""
    parts = [
        f"{'.'.join(str(x) for x in e.get('loc', ())) or '-'}: {e.get('msg', '')}"
        for e in exc.errors()
    ]
    st.error(t("error", msg="; ".join(parts)))


def keep_choice(key: str, options: Sequence[Any], *preferred: Any) -> None:
    """Before ``st.selectbox(label, options, key=key)``: choose the first of ``preferred``
    that is among ``options`` (else the first option).

    Set on every run, so the browser shows this run's label of the choice: a label that
    changed since the last run (a new status, the other language) would otherwise stay on
    screen as it was, since the browser keeps the label it was last sent.
    """
    st.session_state[key] = next((p for p in preferred if p in options), options[0])


def guard(page: str) -> Principal:
    """The signed-in principal, if its role may open ``page``; else stop the page."""
    me = principal()
    if me is None:
        _stop(t("not_signed_in"))
    if not may_open(me.role, page):
        roles = ", ".join(
            t(f"role.{r.value}") for r in sorted(BY_KEY[page].roles, key=lambda r: r.value)
        )
        _stop(t("denied", page=t(f"page.{page}"), roles=roles))
    return me


def _stop(message: str) -> NoReturn:
    st.error(message)
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


__all__ = [
    "DEFAULT_MIN_CELL",
    "PRINCIPAL",
    "call",
    "catalog_url",
    "engine",
    "guard",
    "keep_choice",
    "min_cell",
    "principal",
    "run",
    "show_invalid",
]
