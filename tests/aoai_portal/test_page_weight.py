"""Page weight: no page ships more than 1.5 MB of JavaScript on a first visit.

Two checks: every template, with every script it could load (its own, those of the templates it
extends or includes, whatever its conditions), stays within the budget; and the pages themselves,
served with data so that their charts are drawn, load the partial plotly bundle only where they
draw a chart.
"""

import re
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders

from tests.support.costs_data import reconciliation_month
from tests.support.latency_data import RegionProfile, requests_generate
from usage.rollups.hourly import rollup_refresh_range

BUDGET = 1_500_000  # bytes of JavaScript per page, first visit (nothing cached)
BUNDLE = "vendor/plotly-finance.min.js"
TEMPLATES = Path(settings.BASE_DIR) / "templates"
_SCRIPT = re.compile(r"""<script[^>]*\bsrc="\{% static ['"]([^'"]+)['"] %\}""")
_USES = re.compile(r"""\{% (?:extends|include) ['"]([^'"]+)['"]""")


def _static_size(path: str) -> int:
    found = finders.find(path)
    assert found, f"{path} is not a static file"
    return Path(found).stat().st_size


def _template_scripts(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """Every static script ``name`` could load, with the templates it extends or includes."""
    path = TEMPLATES / name
    if name in seen or not path.exists():  # admin and app templates outside templates/: no scripts
        return set()
    text = path.read_text()
    scripts = set(_SCRIPT.findall(text))
    for used in _USES.findall(text):
        scripts |= _template_scripts(used, seen | {name})
    return scripts


def test_no_template_can_load_more_javascript_than_the_budget():
    weights = {}
    for path in TEMPLATES.rglob("*.html"):
        name = str(path.relative_to(TEMPLATES))
        weights[name] = sum(_static_size(script) for script in _template_scripts(name))
    assert weights["usage/latency.html"] > 1_000_000  # the walk sees the bundle (it can fail)
    assert {name: size for name, size in weights.items() if size > BUDGET} == {}


def test_the_full_plotly_bundle_is_gone_and_the_partial_one_is_the_pinned_copy():
    assert finders.find("vendor/plotly.min.js") is None
    import hashlib

    sums = (Path(settings.BASE_DIR) / "vendor" / "plotly" / "SHA256SUMS").read_text().split()
    digest = hashlib.sha256(Path(finders.find(BUNDLE)).read_bytes()).hexdigest()
    assert sums == [digest, "plotly-finance.min.js"]


def _page_scripts(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', response.content.decode())
    return [
        source.removeprefix(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/")
        for source in sources
    ]


def test_pages_load_the_chart_bundle_only_where_they_draw_charts_and_stay_within_the_budget(
    client_for, admin_user
):
    start = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    requests_generate(
        profiles=[RegionProfile("swedencentral", 6.0, 0.4)], start=start, hours=24, per_hour=2, seed=3
    )
    rollup_refresh_range(start=start, end=start + timedelta(hours=24))
    reconciliation_month()
    client = client_for(admin_user)
    charts = {
        "/latency/?from=2026-03-02&to=2026-03-02": True,
        "/chargeback/?month=2026-03": True,
        "/reconciliation/?month=2026-03": True,
        "/latency/?from=2024-01-01&to=2024-01-02": False,  # nothing to chart: no bundle
        "/quotas/?month=2026-03": False,
        "/review/": False,
        "/ingestion/": False,
        "/access-audit/": False,
    }
    for url, draws in charts.items():
        scripts = _page_scripts(client, url)
        assert (BUNDLE in scripts) is draws, (url, scripts)
        weight = sum(_static_size(script) for script in scripts)
        assert weight <= BUDGET, (url, weight)
