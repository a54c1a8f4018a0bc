"""Latency read from the rollups: what each page and API call shows.

* ``filters``: the window and filters of a question (``latency_filters_parse``), the filter lists.
* ``reads``: which rollup answers it, read once (``latency_rollup_rows``, ``latency_day_rows``);
  ``queries`` the shared query helpers, ``hour_of_day`` the rows grouped by hour of day.
* ``percentiles``: rows summed, with percentiles from their merged histograms (``LatencyRow``).
* ``groups``: one row per group and streaming kind (``latency_rows``).
* ``charts``: the heatmap and the per-day line chart (``latency_charts``).
"""
