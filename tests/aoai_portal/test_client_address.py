"""The client address of the access audit: X-Forwarded-For counts only as far as PORTAL_TRUSTED_PROXIES."""

import pytest
from django.test import Client, RequestFactory

from aoai_portal.client_address import client_address
from audit.models import AccessAuditEntry
from tests.factories import chat_request_create

pytestmark = pytest.mark.django_db


def _address(*, remote="10.1.2.3", forwarded=None) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


def test_without_trusted_proxies_a_forged_header_is_ignored(settings):
    settings.PORTAL_TRUSTED_PROXIES = 0
    assert _address(forwarded="6.6.6.6") == "10.1.2.3"


def test_one_trusted_proxy_takes_the_right_most_entry(settings):
    settings.PORTAL_TRUSTED_PROXIES = 1
    # The client forged "6.6.6.6"; the proxy appended the address it saw (198.51.100.7).
    assert _address(forwarded="6.6.6.6, 198.51.100.7") == "198.51.100.7"
    assert _address(forwarded="2001:db8::1") == "2001:db8::1"


def test_two_trusted_proxies_take_the_second_entry_from_the_right(settings):
    settings.PORTAL_TRUSTED_PROXIES = 2
    assert _address(forwarded="6.6.6.6,198.51.100.7, 10.0.0.2") == "198.51.100.7"
    # Fewer entries than proxies: the header is not what the proxies wrote.
    assert _address(forwarded="198.51.100.7") == "10.1.2.3"


@pytest.mark.parametrize(
    "forwarded",
    ["", "not-an-ip", "1.2.3.4\x00", "x" * 5000, "9" * 70, ",,,", "1.2.3.999", "\udcff", "[::1]"],
)
def test_garbage_falls_back_to_remote_addr(settings, forwarded):
    settings.PORTAL_TRUSTED_PROXIES = 1
    assert _address(forwarded=forwarded) == "10.1.2.3"


def test_an_invalid_remote_addr_is_recorded_as_empty(settings):
    settings.PORTAL_TRUSTED_PROXIES = 0
    assert _address(remote="unix:/tmp/gunicorn.sock") == ""
    assert _address(remote="") == ""


@pytest.mark.parametrize("proxies", [0, 1])
@pytest.mark.parametrize("forwarded", ["x" * 5000, "1.2.3.4\x00", "a" * 65 + ", " + "b" * 65, "6.6.6.6"])
def test_the_prompt_page_records_a_valid_address_whatever_the_header(
    settings, reviewer_user, proxies, forwarded
):
    settings.PORTAL_TRUSTED_PROXIES = proxies
    chat_request_create("xff-1", prompt="hello", completion="hi")
    client = Client(raise_request_exception=False)
    client.force_login(reviewer_user)
    response = client.get("/requests/xff-1/", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=forwarded)
    assert response.status_code == 200
    entry = AccessAuditEntry.objects.get(correlation_id="xff-1")
    assert entry.ip_address == ("6.6.6.6" if proxies and forwarded == "6.6.6.6" else "192.0.2.10")
