"""The service calls the lab server offers: one typed HTTP route per function.

Every entry is a function of lab.services that takes ``session`` and ``actor`` and checks
the actor's rights itself (lab.services.access); the server runs it in one transaction as
the user the bearer token stands for. Its request body is a model generated from the
function's keyword parameters (less those :data:`HIDDEN` keeps server-side), its response
the function's return type. Nothing else of the catalog is reachable over HTTP: no raw
table, no location at a party, no enterprise authorization row.

Revealed to whom: exactly what each service function returns to that user.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from lab.services import audit as audit_svc
from lab.services import catalog, consent, models_library, results, sample_counts, tokens, workers
from lab.services import experiments as exp_svc

FUNCTIONS: tuple[Callable[..., Any], ...] = (
    audit_svc.list_events,
    audit_svc.verify,
    catalog.create_sample,
    catalog.edit_sample,
    catalog.get_sample,
    catalog.list_algorithms,
    catalog.list_datasets,
    catalog.list_samples,
    catalog.register_record_folder,
    catalog.search_indicators,
    consent.authorization_summary,
    consent.grant_consent,
    consent.list_consents,
    consent.revoke_consent,
    exp_svc.approve_experiment,
    exp_svc.cancel_experiment,
    exp_svc.consents_for,
    exp_svc.create_experiment,
    exp_svc.get_experiment,
    exp_svc.list_experiments,
    exp_svc.list_requests,
    exp_svc.reject_experiment,
    exp_svc.resubmit_experiment,
    exp_svc.revise_experiment,
    exp_svc.submit_experiment,
    exp_svc.transitions,
    models_library.get_model,
    models_library.list_models,
    models_library.model_for_experiment,
    models_library.publish_model,
    models_library.retire_model,
    results.experiment_loss,
    sample_counts.get_count,
    sample_counts.request_count,
    tokens.list_tokens,
    tokens.mint_token,
    tokens.revoke_token,
    workers.list_workers,
    workers.register_worker,
    workers.revoke_worker,
)

#: parameters a remote caller may not set (they name files on the server's machine)
HIDDEN: dict[str, frozenset[str]] = {"lab.services.audit.verify": frozenset({"receipts"})}


@dataclass(frozen=True)
class Route:
    """One service function as an HTTP route."""

    name: str  # "experiments.submit_experiment": the path's last part
    fn: Callable[..., Any]
    request: type[BaseModel]
    returns: TypeAdapter[Any]


INT_MAX = 2**31 - 1
"""The largest whole number a request may carry (the catalog's ids are 32-bit integers)."""
_COUNT = Annotated[int, Field(ge=0, le=INT_MAX)]


def _bounded(hint: Any) -> Any:
    """``int`` (alone or in ``int | None``) as a whole number in [0, INT_MAX]: ids, limits
    and days are never negative, and a larger number than a column holds is refused as
    bad input rather than reaching the database."""
    if hint is int:
        return _COUNT
    args = typing.get_args(hint)
    if args and int in args and type(None) in args and len(args) == 2:
        return _COUNT | None
    return hint


def _route(fn: Callable[..., Any]) -> Route:
    qual = f"{fn.__module__}.{fn.__name__}"
    short = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
    hints = typing.get_type_hints(fn)
    hidden = HIDDEN.get(qual, frozenset())
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in ("session", "actor") or name in hidden:
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (_bounded(hints[name]), default)
    model = create_model(  # type: ignore[call-overload]
        short.replace(".", "_") + "_request",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return Route(short, fn, model, TypeAdapter(hints["return"]))


ROUTES: dict[str, Route] = {r.name: r for r in map(_route, FUNCTIONS)}
BY_FUNCTION: dict[Callable[..., Any], Route] = {r.fn: r for r in ROUTES.values()}


def route_for(fn: Callable[..., Any]) -> Route:
    """The route of a service function (KeyError: the server does not offer it)."""
    return BY_FUNCTION[fn]


__all__ = ["BY_FUNCTION", "FUNCTIONS", "HIDDEN", "INT_MAX", "ROUTES", "Route", "route_for"]
