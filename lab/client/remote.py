"""The SDK as a client of the lab server: the same sections over HTTP.

``Lab.connect("https://lab.example", token="flt_…")`` (or ``user=`` and ``password=``:
a sign-in) gives a :class:`RemoteLab`, whose every call is one request to the server's
route for that service function (lab.server.registry): the arguments as JSON, the result
parsed back into the function's return type; a refusal comes back as the same coded
error (``crypto.errors``) with the server's public message. The process holds a bearer
token, never a database handle.

Revealed to whom: what the server returns to the token's user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic_core import to_jsonable_python

from lab.errors import CatalogError, LabError, error_for_code

T = TypeVar("T")
API = "/api/v1"


def _raise(reply: httpx.Response) -> None:
    try:
        body = reply.json()
    except ValueError:
        body = {}
    code, message = str(body.get("code", "")), str(body.get("message") or reply.text[:200])
    cls = error_for_code(code) or CatalogError
    err: LabError = cls(message, hint=str(body.get("hint") or "") or None)
    raise err


class RemoteCaller:
    """Calls service functions on a lab server as the holder of ``token``."""

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self.token = token

    @classmethod
    def sign_in(cls, http: httpx.Client, username: str, password: str) -> RemoteCaller:
        reply = http.post(f"{API}/auth/login", json={"username": username, "password": password})
        if reply.status_code != 200:
            _raise(reply)
        return cls(http, str(reply.json()["token"]))

    def call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        from lab.server.registry import route_for

        try:
            route = route_for(fn)
        except KeyError:
            raise CatalogError(
                f"the lab server offers no {fn.__name__!r}",
                hint="Use a local catalog for this, or ask the platform to offer it.",
            ) from None
        hidden = [k for k in kwargs if k not in route.request.model_fields]
        if any(kwargs[k] is not None for k in hidden):
            raise CatalogError(
                f"{route.name}: {hidden} cannot be given over the lab server",
                hint="They name files on the server's machine; run it there.",
            )
        kwargs = {k: v for k, v in kwargs.items() if k not in hidden}
        reply = self.http.post(
            f"{API}/call/{route.name}",
            json=to_jsonable_python(kwargs),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if reply.status_code != 200:
            _raise(reply)
        result: T = route.returns.validate_python(reply.json())
        return result


__all__ = ["RemoteCaller"]
