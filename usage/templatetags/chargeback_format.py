"""Number formatting for chargeback pages: thousands separators, currency, percentages."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


@register.filter
def money(value: Decimal | None, currency: str = "") -> str:
    """``Decimal("1234.5")`` -> ``"USD 1,234.50"`` (half-up to the cent)."""
    if value is None or value == "":
        return "—"
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{abs(amount):,.2f}"
    sign = "−" if amount < 0 else ""
    return f"{sign}{currency} {text}".strip() if currency else f"{sign}{text}"


@register.filter
def num(value: int | str | None) -> str:
    if value is None or value == "":
        return "—"
    return f"{int(value):,}".replace("-", "−")


@register.filter
def pct(value: Decimal | float | None) -> str:
    if value is None or value == "":
        return "—"
    return f"{Decimal(value):,.1f} %".replace("-", "−")


@register.filter
def signed_pct(value: Decimal | float | None) -> str:
    if value is None or value == "":
        return "—"
    value = Decimal(value)
    return ("+" if value > 0 else "") + pct(value)


@register.filter
def share_reported(measures) -> Decimal | None:
    return measures.share(measures.reported_tokens)


@register.filter
def share_estimated(measures) -> Decimal | None:
    return measures.share(measures.estimated_tokens)


@register.filter
def share_unpriced(measures) -> Decimal | None:
    return measures.share(measures.unpriced_tokens)
