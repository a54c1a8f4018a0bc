"""Settings read from the environment refuse values they cannot use, naming the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from aoai_portal.env import env_float, env_int


def test_a_number_setting_takes_finite_numbers_and_its_default(monkeypatch):
    monkeypatch.setenv("PORTAL_TEST_NUMBER", "0.75")
    assert env_float("PORTAL_TEST_NUMBER", 0.9) == 0.75
    monkeypatch.setenv("PORTAL_TEST_NUMBER", "")
    assert env_float("PORTAL_TEST_NUMBER", 0.9) == 0.9


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity", "0.9x", "1e999"])
def test_a_number_setting_refuses_what_is_not_a_finite_number(monkeypatch, raw):
    monkeypatch.setenv("PORTAL_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match="PORTAL_TEST_NUMBER"):
        env_float("PORTAL_TEST_NUMBER", 0.9)


def test_an_integer_setting_refuses_a_fraction(monkeypatch):
    monkeypatch.setenv("PORTAL_TEST_INT", "2.5")
    with pytest.raises(ImproperlyConfigured, match="PORTAL_TEST_INT"):
        env_int("PORTAL_TEST_INT", 2)
