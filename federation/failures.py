"""How a party answers a request it could not serve: public facts out, the rest in its log.

Every runtime turns a handler's exception into its reply here (the Flower ClientApp through
:mod:`federation.runtime.dispatch`, :class:`~federation.local_transport.LocalTransport`, and
the SecAgg+ ``train`` path of :mod:`federation.homo.secaggplus`):

* a :class:`~crypto.errors.LabError` leaves as its type, code, hint and
  :meth:`~crypto.errors.LabError.public_message`: file, column, count, line numbers. Its
  ``detail`` (the first bad ID, label, number or date from the party's records) does not;
* any other exception (a pandas ``KeyError``, a ``ValueError`` quoting a cell, ...) leaves
  as ``internal error (KeyError) at party 'tax' in 'lr.init'``: its text may hold values;
* the text that would leave is screened by :func:`federation.guard.check_error_text`
  (USCC-shaped tokens, the party's raw IDs); on a hit the message is withheld too.

The full exception, detail and traceback included, goes to the party's own log
(``logging`` logger ``federation.failures``), never into the reply.
"""

from __future__ import annotations

import logging

from flwr.app import RecordDict

from crypto.errors import LabError, PrivacyViolationError, ProtocolError
from federation.guard import check_error_text
from federation.party import PartyContext
from federation.records import PartyFailure, error_reply

log = logging.getLogger(__name__)


def public_failure(
    party: str, action: str, exc: BaseException, ctx: PartyContext | None = None
) -> PartyFailure:
    """What may leave ``party`` about ``exc`` (raised while serving ``action``)."""
    if isinstance(exc, LabError):
        log.warning("party %s: %r failed: %s: %s", party, action, type(exc).__name__, exc)
        failure = PartyFailure(type(exc).__name__, exc.code, exc.public_message(), exc.hint)
    else:
        log.error("party %s: %r failed", party, action, exc_info=exc)
        failure = PartyFailure(
            ProtocolError.__name__,
            ProtocolError.code,
            f"internal error ({type(exc).__name__}) at party {party!r} in {action!r}; "
            "details are in the party's own log",
        )
    try:
        check_error_text(ctx, {"message": failure.message, "hint": failure.hint}, action)
    except PrivacyViolationError as stop:
        log.error("%s", stop)
        return PartyFailure(
            failure.error_type,
            failure.code,
            f"error at party {party!r} in {action!r}; its message was withheld "
            "because it held raw IDs; details are in the party's own log",
        )
    return failure


def failure_records(
    party: str, action: str, exc: BaseException, ctx: PartyContext | None = None
) -> RecordDict:
    """The error reply (Flower records) for ``exc``: :func:`public_failure` encoded."""
    return error_reply(action, public_failure(party, action, exc, ctx))


__all__ = ["failure_records", "public_failure"]
