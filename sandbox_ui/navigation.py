"""Which pages exist and which roles see them (the page set follows the role).

The services enforce the access rules; this table only decides what a role is shown, and
every page checks it again (a page opened by URL or by ``switch_page`` is refused the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.models import Role

R = Role
BANK = frozenset({R.BANK_MODELER, R.DATA_SCIENTIST})
STAFF = frozenset({R.PLATFORM_STAFF, R.ADMIN})
PEOPLE = BANK | STAFF | {R.AGENCY_OFFICER}


@dataclass(frozen=True)
class PageSpec:
    key: str  # i18n key "page.<key>", file views/<key>.py, url path
    icon: str
    roles: frozenset[Role]

    @property
    def file(self) -> str:
        return f"views/{self.key}.py"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", ":material/home:", PEOPLE),
    PageSpec("indicators", ":material/list_alt:", PEOPLE),
    PageSpec("samples", ":material/group:", BANK | STAFF),
    PageSpec("algorithms", ":material/functions:", PEOPLE),
    PageSpec("experiments", ":material/science:", BANK | STAFF),
    PageSpec("models", ":material/insights:", BANK | STAFF),
    PageSpec("approvals", ":material/fact_check:", STAFF),
    PageSpec("consent", ":material/handshake:", frozenset({R.AGENCY_OFFICER})),
    PageSpec("audit", ":material/receipt_long:", STAFF),
)
BY_KEY = {p.key: p for p in PAGES}


def pages_for(role: Role | str) -> list[PageSpec]:
    """The pages ``role`` is shown, in menu order."""
    r = Role(role)
    return [p for p in PAGES if r in p.roles]


def may_open(role: Role | str, key: str) -> bool:
    return Role(role) in BY_KEY[key].roles


__all__ = ["BY_KEY", "PAGES", "PageSpec", "may_open", "pages_for"]
