"""Fixtures shared by the ingestion tests."""

import pytest

from usage.ingestion import store


@pytest.fixture(params=["copy", "portable"])
def write_path(request, monkeypatch, db):
    """Run a test through the PostgreSQL COPY fast path and through the portable ORM path."""
    monkeypatch.setattr(store, "COPY_FAST_PATH", request.param == "copy")
    return request.param
