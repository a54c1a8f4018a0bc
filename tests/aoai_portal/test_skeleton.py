from datetime import UTC, datetime

import pytest

from usage.rollups.histograms import bucket_bounds, bucket_index, histogram_percentile


def test_it_sends_anonymous_users_to_sign_in(client, db):
    response = client.get("/chargeback/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_no_access_page_to_users_without_role(client_for, norole_user):
    response = client_for(norole_user).get("/chargeback/")
    assert response.status_code == 403
    assert b"no AOAI Portal role" in response.content


def test_it_forbids_reviewer_from_chargeback(client_for, reviewer_user):
    assert client_for(reviewer_user).get("/chargeback/").status_code == 403


def test_healthz_answers(client, db):
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("ms", [0.2, 1, 3.7, 250, 999.9, 12_000, 999_999])
def test_bucket_holds_its_value(ms):
    low, high = bucket_bounds(bucket_index(ms))
    assert low <= ms < high


def test_histogram_percentile_is_within_one_bucket_of_exact():
    values = [float(v) for v in range(1, 2001)]
    histogram: dict[str, int] = {}
    for v in values:
        key = str(bucket_index(v))
        histogram[key] = histogram.get(key, 0) + 1
    for quantile, exact in ((0.5, 1000), (0.95, 1900), (0.99, 1980)):
        estimate = histogram_percentile(histogram, quantile)
        low, high = bucket_bounds(bucket_index(exact))
        assert abs(estimate - exact) <= high - low, (quantile, estimate, exact)


def test_utc_is_the_default_time_zone(settings):
    assert settings.TIME_ZONE == "UTC"
    assert datetime(2026, 1, 1, tzinfo=UTC).utcoffset().total_seconds() == 0
