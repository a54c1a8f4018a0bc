"""The rollups: what the pages read instead of the request table, kept current by ingestion.

Every hour's rows are recomputed whole from GatewayRequest (``hourly.rollup_refresh_hours``), or,
for requests stored for the first time, their own sums added (``delta.rollup_add``); the same
transaction maintains the coarser rollups the pages read:

- ``hourly``: UsageHourly, recomputed by runs of hours in a few GROUP BY queries;
- ``hourly_sql``: on PostgreSQL, the same rows by one INSERT … SELECT per run of hours;
- ``delta``: the sums of new requests, added to the rollups of their hours;
- ``horizon``: UsageHourly keeps recent months only (``PORTAL_HOURLY_ROLLUP_MONTHS``); readers
  widen a partial day before the horizon to its whole day;
- ``hourly_prune``: hours before the horizon refreshed as whole days, then their hourly rows
  dropped; the nightly prune;
- ``daily``: UsageDaily (the money pages);
- ``tokens_per_minute``: TokensPerMinuteHourly (the quota page);
- ``latency``: LatencyDaily and LatencyHourOfDay, and the refresh of every latency rollup;
- ``latency_subscription``: LatencySubscriptionDaily and LatencySubscriptionRegionDaily;
- ``latency_sql``: on PostgreSQL, the latency entries of stored hours summed by one GROUP BY;
- ``latency_operations``: LatencyOperationDaily (per API operation), from the requests themselves;
- ``latency_spans``: LatencyDailySpan and LatencyHourOfDaySpan, re-summed from their halves;
- ``spans``: how those spans cut time (aligned spans of 2..256 days), for writers and readers;
- ``entries``: the per-hour latency entries every latency rollup is built from;
- ``histograms``: the log-scale latency buckets and their packed form;
- ``deferral``: long imports refresh the latency rollups once a minute instead of per batch;
- ``latency_alongside``: a long refresh builds the latency rollups in a second thread;
- ``expressions``: the SQL status class and histogram bucket the GROUP BY queries key by;
- ``common``: what they share (dimensions, status classes, the refresh lock).
"""
