"""Sign-in against the catalog's users, through lab's own check (argon2 hashes).

The password is read from the form, handed to ``lab.services.catalog.authenticate`` and
dropped: it is never stored in the session, logged or shown. A failed sign-in is one
:class:`~lab.errors.SignInError` and one message for unknown users and wrong passwords
alike (the lab's check costs one password hash either way).
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from lab.errors import AccessDeniedError, NotFoundError, SignInError
from lab.services.access import Principal
from lab.services.catalog import SIGN_IN_REFUSED, authenticate
from lab.services.connection import session_scope
from sandbox_ui.i18n import t
from sandbox_ui.session import PRINCIPAL, engine


def passwords_required() -> bool:
    from lab.settings import load_settings

    return load_settings().passwords_required


def sign_in(db: Engine, username: str, password: str, *, require_password: bool) -> Principal:
    """The principal for ``username``; :class:`AccessDeniedError` when the check fails.

    A non-empty password is always verified; an empty one is accepted only when
    ``require_password`` is False (the local demo environment).
    """
    name = username.strip()
    if not name:
        raise AccessDeniedError("no username given")
    try:
        with session_scope(db) as s:
            if password:
                return authenticate(
                    session=s, username=name, password=password, password_required=True
                )
            return authenticate(
                session=s, username=name, password=None, password_required=require_password
            )
    except NotFoundError:  # unchecked (local, no password): the name alone would sign in
        raise SignInError(SIGN_IN_REFUSED) from None


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        if key != "lang":
            del st.session_state[key]


def render_sign_in() -> None:
    """The sign-in form; on success stores the principal and reruns."""
    st.title(t("app.title"))
    st.caption(t("app.tagline"))
    required = passwords_required()
    with st.form("signin"):
        st.subheader(t("signin.title"))
        username = st.text_input(t("signin.username"), key="signin_user")
        password = st.text_input(t("signin.password"), type="password", key="signin_pw")
        ok = st.form_submit_button(t("signin.button"), type="primary", key="signin_submit")
    if not required:
        st.caption(t("signin.local_note"))
    if ok:
        try:
            me = sign_in(engine(), username, password, require_password=required)
        except AccessDeniedError:
            st.error(t("signin.failed"))
            return
        st.session_state[PRINCIPAL] = me
        st.rerun()


__all__ = ["passwords_required", "render_sign_in", "sign_in", "sign_out"]
