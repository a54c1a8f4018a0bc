"""The usage measures: what the rollups add up over requests, named once and in one order.

``UsageHourly`` and ``UsageDaily`` hold ``USAGE_MEASURES`` (their abstract base
``usage.models.rollups.UsageRollup`` declares them in this order); the rollups sum them;
chargeback reports them less images (``CHARGEBACK_MEASURES``: its ``Measures``, the API's
``MeasuresOut``, export columns and the lines frozen in month-close snapshots, which are read
back by position: only ever append); each ``GatewayRequest`` carries the token counts and a cost.
"""

# Token counts as a request reports them (GatewayRequest fields of the same names).
TOKEN_MEASURES = ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "total_tokens")
# What UsageHourly and UsageDaily sum per key; ``cost`` is a Decimal, the others integers.
USAGE_MEASURES = ("requests", *TOKEN_MEASURES, "estimated_tokens", "unpriced_tokens", "images", "cost")
# What chargeback reports, in this order.
CHARGEBACK_MEASURES = tuple(name for name in USAGE_MEASURES if name != "images")
