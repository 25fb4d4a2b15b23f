"""The lab server: an HTTP API in front of the catalog, the one process that holds its
database credentials.

``create_app(engine)`` builds a FastAPI app (OpenAPI schema at ``/api/v1/openapi.json``):

* ``GET /api/v1/health`` and ``POST /api/v1/auth/login`` (user name and password, always
  checked; a session token back) are the only routes open without a token;
* ``POST /api/v1/call/<service>.<function>``: one route per service function of
  :mod:`lab.server.registry`, run in one transaction as the user of the bearer token
  (``Authorization: Bearer flt_…``; lab.services.tokens), with the function's own access
  checks; the body is the function's keyword arguments, the reply its result as JSON.

Errors are JSON ``{"code", "message", "hint"}`` with the status their kind deserves (401
sign-in, 403 access, 404 not found, 409 state or consent, 422 bad input); the public
message only, never a traceback. ``fedlab server`` serves it with uvicorn.

Revealed to whom: each user gets what the service layer gives that user; nobody gets a
database handle.
"""

import logging
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine

from lab.db import session_scope
from lab.errors import (
    AccessDeniedError,
    CatalogError,
    ConfigError,
    ConsentError,
    LabError,
    NotFoundError,
    SignInError,
    StateTransitionError,
)
from lab.server.registry import ROUTES, Route
from lab.services import tokens
from lab.services.access import Principal

# no `from __future__ import annotations` here: FastAPI reads the routes' annotations at
# run time (the request model of each route is a local variable)
log = logging.getLogger("fedlab.server")
API = "/api/v1"
_bearer = HTTPBearer(auto_error=False)


NO_NUL = r"^[^\x00]*$"
"""Text over the API holds no NUL character (PostgreSQL's text refuses it)."""


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1024, pattern=NO_NUL)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_nul(v) for v in value)
    if isinstance(value, BaseModel):
        return _has_nul(value.model_dump())
    return False


class TokenReply(BaseModel):
    token: str
    expires_at: str
    kind: str


class Problem(BaseModel):
    code: str
    message: str
    hint: str = ""


def status_of(exc: LabError) -> int:
    if isinstance(exc, SignInError):
        return 401
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, StateTransitionError | ConsentError):
        return 409
    if isinstance(exc, CatalogError):
        return 400
    return 422


def problem(exc: LabError) -> JSONResponse:
    body = Problem(code=exc.code, message=exc.public_message(), hint=exc.hint or "")
    return JSONResponse(body.model_dump(), status_code=status_of(exc))


def create_app(engine: Engine) -> FastAPI:
    """The lab server's app over the catalog ``engine``."""
    app = FastAPI(
        title="Federated Credit Lab · 数据模型实验室",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
    )

    @app.exception_handler(LabError)
    async def _lab_error(_: Request, exc: LabError) -> JSONResponse:
        return problem(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("lab server: unexpected %s", type(exc).__name__)
        body = Problem(code="FEDLAB-000", message=f"internal error ({type(exc).__name__})")
        return JSONResponse(body.model_dump(), status_code=500)

    @app.exception_handler(ValidationError)
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: ValidationError | RequestValidationError) -> JSONResponse:
        msg = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors()
        )
        body = Problem(code=ConfigError.code, message=msg[:2000] or "invalid request")
        return JSONResponse(body.model_dump(), status_code=422)

    def principal(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        with session_scope(engine) as s:
            return tokens.principal_for_token(s, creds.credentials if creds else None)

    @app.get(f"{API}/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(f"{API}/auth/login", responses={401: {"model": Problem}})
    def login(body: Login) -> TokenReply:
        with session_scope(engine) as s:
            tok, token = tokens.sign_in(session=s, username=body.username, password=body.password)
        return TokenReply(token=token, expires_at=tok.expires_at.isoformat(), kind=tok.kind)

    for route in ROUTES.values():
        _add(app, engine, route, principal)
    return app


def _add(app: FastAPI, engine: Engine, route: Route, principal: Any) -> None:
    request_model = route.request

    def call(
        me: Annotated[Principal, Depends(principal)],
        body: Annotated[request_model, Body()],  # type: ignore[valid-type]
    ) -> Any:
        kwargs = {k: getattr(body, k) for k in request_model.model_fields}
        if _has_nul(kwargs):
            raise ConfigError("text in a request may not contain NUL characters")
        with session_scope(engine) as s:
            result = route.fn(session=s, actor=me, **kwargs)
            return JSONResponse(route.returns.dump_python(result, mode="json"))

    app.add_api_route(
        f"{API}/call/{route.name}",
        call,
        methods=["POST"],
        name=route.name,
        summary=(route.fn.__doc__ or route.name).strip().splitlines()[0],
        responses={s: {"model": Problem} for s in (401, 403, 404, 409, 422)},
    )


__all__ = ["API", "Login", "Problem", "TokenReply", "create_app", "status_of"]
