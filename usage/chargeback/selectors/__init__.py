"""Chargeback reads over the rollups, over half-open UTC windows ``[begin, end)``, by concern.

``lines``: the measures and the rollup summed into lines (per time bucket, subscription, product,
deployment and model); ``cost_centers``: which cost center a line is charged to; ``groups``: the
filters and groupings of a report; ``reports``: a month's lines grouped into a report, closed
months from their frozen snapshot; ``closes``: whether a month is closed, and the snapshot frozen
at its close; ``series``: usage as a time series; ``identities``: usage per Entra identity. Import
from the modules themselves.
"""
