"""The lab's one service layer: every read and write of the catalog, with its access rule.

The CLI, the SDK and the sandbox call these functions and nothing else. Each function
takes a ``session`` (one transaction, see lab.db.session_scope) and the acting
``Principal``, checks lab.services.access, writes an audit event for every change, and
returns ``*Public`` models or aggregates only: never a password hash, a data location at
a party or an enterprise ID.
"""

from lab.services.access import Action, Principal, Resource, allowed, require

__all__ = ["Action", "Principal", "Resource", "allowed", "require"]
