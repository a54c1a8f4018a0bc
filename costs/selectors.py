"""Reads of the costs app: meters as read (admin mappings first), unknown meters for admins."""

from dataclasses import dataclass
from decimal import Decimal

from .meters import MeterReading, meter_parse, tokens_per_unit
from .models import CostLine, MeterMapping


def _meter_key(name: str) -> str:
    return " ".join(name.split()).lower()


def meter_mappings() -> dict[str, MeterReading]:
    """Admin readings by lower-case meter name."""
    return {
        _meter_key(m.meter_name): MeterReading(
            model=m.model,
            version=m.version,
            kind=m.kind,
            deployment_type=m.deployment_type,
            tokens_per_unit=tokens_per_unit("", m.meter_name),
        )
        for m in MeterMapping.objects.all()
    }


def meter_read(
    *, meter_name: str, unit: str = "", mappings: dict[str, MeterReading] | None = None
) -> MeterReading:
    """The admin's mapping of the meter when there is one, else what ``costs.meters`` reads."""
    if mappings is None:
        mappings = meter_mappings()
    mapped = mappings.get(_meter_key(meter_name))
    if mapped is not None:
        return mapped
    return meter_parse(meter_name, unit)


@dataclass(frozen=True)
class UnknownMeter:
    meter_name: str
    reason: str
    lines: int
    amount: Decimal


def meters_unknown() -> list[UnknownMeter]:
    """Meters of stored invoice lines that neither the reader nor a mapping reads: to map."""
    mappings = meter_mappings()
    found: dict[str, UnknownMeter] = {}
    for line in CostLine.objects.only("meter_name", "unit_of_measure", "billed_cost", "effective_cost"):
        reading = meter_read(meter_name=line.meter_name, unit=line.unit_of_measure, mappings=mappings)
        if reading.known:
            continue
        seen = found.get(line.meter_name)
        found[line.meter_name] = UnknownMeter(
            meter_name=line.meter_name,
            reason=reading.reason,
            lines=(seen.lines if seen else 0) + 1,
            amount=(seen.amount if seen else Decimal(0)) + line.amount,
        )
    return sorted(found.values(), key=lambda m: (-m.amount, m.meter_name))
