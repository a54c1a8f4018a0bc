"""The benches' own databases: named after DATABASE_URL's with a suffix, created and migrated on use."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(url: str, *, suffix: str) -> str:
    """``url`` with ``suffix`` appended to the database name, so a bench never touches real data."""
    if url.startswith("sqlite"):
        return url
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "aoai_portal"
    if not name.endswith(suffix):
        name += suffix
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def bench_database_ensure(url: str) -> None:
    """Create the PostgreSQL database of ``url`` if it is missing, then run the migrations."""
    if url.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
        with psycopg.connect(admin, autocommit=True) as connection:
            if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        check=True,
        env={**os.environ, "DATABASE_URL": url},
    )
