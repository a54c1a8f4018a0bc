"""What Azure invoiced for a month, per APIM subscription, as another app (``costs``) knows it.

usage sits below costs and may not import it; costs registers a provider here at ready
(``invoice_provider_register``) and the chargeback asks ``month_invoiced(month=)``. Without a
provider, or while no cost export covers the month, it is ``None``: invoiced figures are unknown.

``shares_split`` is the exact split both apps use (largest remainder at 8 places).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class InvoicedMonth:
    """The month's Azure OpenAI invoice: ``total`` = sum of ``by_subscription`` + ``unallocated``."""

    total: Decimal
    by_subscription: dict[str, Decimal] = field(default_factory=dict)
    unallocated: Decimal = Decimal(0)


InvoiceProvider = Callable[..., "InvoicedMonth | None"]
_providers: list[InvoiceProvider] = []


def invoice_provider_register(fn: InvoiceProvider) -> None:
    """``fn(month=date)`` returns the month's ``InvoicedMonth``, or None when it has no invoice."""
    if fn not in _providers:
        _providers.append(fn)


def month_invoiced(*, month: date) -> InvoicedMonth | None:
    """The first registered provider's answer for ``month`` (None when none knows it)."""
    for provider in _providers:
        found = provider(month=month)
        if found is not None:
            return found
    return None


def shares_split(*, amount: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """``amount`` (at most 8 places) in proportion to ``weights`` (>= 0, not all 0), adding up
    exactly: each key gets the floor of its share at 8 places, the units left over go one each to
    the largest remainders (ties: key order)."""
    units = amount / PLACES
    if units != units.to_integral_value():
        raise ValueError(f"{amount} has more than 8 decimal places")
    scaled = {key: int(weight / PLACES) for key, weight in weights.items() if weight > 0}
    whole = sum(scaled.values())
    if not whole:
        raise ValueError("no weight to share by")
    sign, left = (-1 if units < 0 else 1), abs(int(units))
    floors = {key: left * weight // whole for key, weight in scaled.items()}
    remainders = {key: left * weight % whole for key, weight in scaled.items()}
    over = left - sum(floors.values())
    for key in sorted(scaled, key=lambda k: (-remainders[k], k))[:over]:
        floors[key] += 1
    return {key: sign * units_ * PLACES for key, units_ in sorted(floors.items())}
