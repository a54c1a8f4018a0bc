"""Reads for the quota page, the API and the alerts, by concern.

``overview``: each subscription's month against its tier and the drift list (``quota_overview``);
``drift``: the drift check (``drift_items``);
``tiers``: which tier applies at a moment; ``consumption``: what subscriptions used, read from
the rollups. Import from the modules themselves.
"""
