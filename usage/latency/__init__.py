"""Latency per region: percentiles, throttling and headroom read from the hourly rollups."""
