"""The experiment state machine.

    draft → submitted → approved | rejected        (approval needs every consent granted)
    approved → queued → running → succeeded | failed
    running → queued                                  (its worker lost its lease: a retry)
    draft | submitted | approved | queued → cancelled;   running → cancelled
    rejected | failed | cancelled → draft             (revise and resubmit)

Every transition names who made it, when and why (stored as an ``ExperimentTransition``
and an audit event by lab.services.experiments). This module only decides what is legal:
it reads no catalog row and reveals nothing but, to the caller whose move was refused, the
experiment's status and the moves it allows.
"""

from __future__ import annotations

from lab.errors import StateTransitionError
from lab.models import ExperimentStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.QUEUED, S.CANCELLED}),
    S.REJECTED: frozenset({S.DRAFT}),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.QUEUED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset({S.DRAFT}),
    S.CANCELLED: frozenset({S.DRAFT}),
}

TERMINAL: frozenset[S] = frozenset({S.SUCCEEDED})
NEEDS_REASON: frozenset[S] = frozenset({S.REJECTED, S.FAILED, S.CANCELLED})
LEASED: frozenset[S] = frozenset({S.QUEUED, S.RUNNING})
"""The statuses in which a worker holds a lease on the experiment (lab.services.leases)."""


def allowed_next(status: S | str) -> frozenset[S]:
    return TRANSITIONS[S(status)]


def check_transition(
    current: S | str, target: S | str, *, reason: str = "", experiment: str = "experiment"
) -> None:
    """Raise :class:`StateTransitionError` unless ``current → target`` is legal."""
    cur, tgt = S(current), S(target)
    if tgt not in TRANSITIONS[cur]:
        nexts = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or "nothing (final)"
        raise StateTransitionError(
            f"{experiment} is {cur.value}; it cannot become {tgt.value} (from {cur.value} it "
            f"can become: {nexts})",
            hint="Check the experiment's status with `fedlab lab experiments show`.",
        )
    if tgt in NEEDS_REASON and not reason.strip():
        raise StateTransitionError(
            f"{experiment}: moving to {tgt.value} needs a reason",
            hint="Say why, e.g. reason='duplicate of experiment 12'.",
        )


__all__ = ["LEASED", "NEEDS_REASON", "TERMINAL", "TRANSITIONS", "allowed_next", "check_transition"]
