"""Which cost centers a reader may see: the scope every chargeback and quota read takes.

The reads (``chargeback_report``, ``usage_series``, ``identity_usage``, ``quota_overview``, the
FOCUS rows) take a required ``scope`` and drop every line charged to a cost center outside it,
so no page, export or endpoint can forget it (permissions live in the read, as NetBox keeps them
in its querysets). Pages and endpoints get the scope of the signed-in user (or of the user an API
token belongs to, at the time of the call) from ``cost_center_scope``:

- finance and admin see every cost center, Unassigned included;
- a budget owner sees the cost centers they own (``CostCenterOwner``): as a user, by username,
  e-mail or Entra object id, or through an Entra group of their ``groups`` claim at their last
  sign-in. Never Unassigned;
- anyone else sees nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db.models import Q

from aoai_portal.auth.models import EntraIdentity
from aoai_portal.roles import ADMIN, BUDGET_OWNER, FINANCE, user_roles

from ..models import CostCenterOwner


class _Charged(Protocol):
    subscription: str
    product: str


_L = TypeVar("_L", bound=_Charged)


@dataclass(frozen=True)
class CostCenterScope:
    """The cost center codes a reader may see; ``codes=None`` means all of them."""

    codes: frozenset[str] | None

    @property
    def is_everything(self) -> bool:
        return self.codes is None

    def allows(self, code: str) -> bool:
        """``code`` = a cost center code, ``""`` = Unassigned (only in the unlimited scope)."""
        return self.codes is None or code in self.codes

    def lines_keep(self, lines: Iterable[_L], *, resolve: Callable[[str, str], Any]) -> list[_L]:
        """The lines (with ``subscription`` and ``product``) charged to a cost center in scope."""
        if self.codes is None:
            return list(lines)
        return [line for line in lines if self.allows(resolve(line.subscription, line.product).code)]


EVERY_COST_CENTER = CostCenterScope(codes=None)
NO_COST_CENTER = CostCenterScope(codes=frozenset())


def cost_centers_owned(*, user: Any) -> set[str]:
    """The codes of the cost centers ``user`` owns, as a user or through an Entra group."""
    if user is None or not user.is_authenticated:
        return set()
    names = {user.get_username().strip().lower()}
    if user.email:
        names.add(user.email.strip().lower())
    groups: set[str] = set()
    identity = EntraIdentity.objects.filter(user=user).first()
    if identity is not None:
        names.add(identity.object_id.lower())
        groups = {str(group).lower() for group in identity.last_groups_claim or []}
    owned = CostCenterOwner.objects.filter(
        Q(kind=CostCenterOwner.Kind.USER, value__in=names) | Q(kind=CostCenterOwner.Kind.GROUP, value__in=groups)
    )
    return set(owned.values_list("cost_center__code", flat=True))


def cost_center_scope(*, user: Any) -> CostCenterScope:
    """What ``user`` may see now (cached on the user object for the request, like its roles)."""
    cached = getattr(user, "_cost_center_scope", None)
    if isinstance(cached, CostCenterScope):
        return cached
    roles = user_roles(user)
    if FINANCE in roles or ADMIN in roles:
        scope = EVERY_COST_CENTER
    elif BUDGET_OWNER in roles:
        scope = CostCenterScope(codes=frozenset(cost_centers_owned(user=user)))
    else:
        scope = NO_COST_CENTER
    if user is not None:
        user._cost_center_scope = scope
    return scope
