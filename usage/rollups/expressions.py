"""SQL expressions the rollups group requests by: the status class and the histogram bucket."""

from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Cast, Floor, Least, Ln

from .histograms import BUCKET_COUNT, EPSILON, SCALE


def status_class_expression() -> Case:
    """SQL twin of ``usage.models.requests.status_class``."""
    return Case(
        When(response_code=429, then=Value("429")),
        When(response_code__gte=500, then=Value("5xx")),
        When(response_code__gte=400, then=Value("4xx")),
        When(response_code__gte=200, then=Value("2xx")),
        default=Value("unknown"),
    )


def bucket_expression(field: str) -> Case:
    """SQL twin of ``histograms.bucket_index`` for the (non-null) column or annotation ``field``."""
    index = Floor(Ln(F(field)) * Value(SCALE) + Value(EPSILON)) + Value(1.0)
    return Case(
        When(**{f"{field}__lt": 1}, then=Value(0)),
        default=Cast(Least(index, Value(float(BUCKET_COUNT - 1))), IntegerField()),
        output_field=IntegerField(),
    )
