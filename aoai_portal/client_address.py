"""The client's address as the access audit records it.

``X-Forwarded-For`` is only as trustworthy as the proxies that wrote it: each proxy appends the
address it received the request from, so with N trusted proxies in front the client is the Nth
entry from the right; everything left of it is whatever the client chose to send.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# The audit column holds 64 characters; an IPv6 address with a zone id is the longest valid value.
_MAX_LENGTH = 64


def _valid_address(value: str) -> str:
    """``value`` normalised if it is an IP address, else ""."""
    value = value.strip()
    if not value or len(value) > _MAX_LENGTH:
        return ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return ""


def client_address(request: HttpRequest | None) -> str:
    """The client's IP address: REMOTE_ADDR, or the entry PORTAL_TRUSTED_PROXIES hops back in
    X-Forwarded-For; "" when neither is a valid address. Never raises."""
    if request is None:
        return ""
    remote = _valid_address(str(request.META.get("REMOTE_ADDR") or ""))
    proxies = settings.PORTAL_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")]
    if len(hops) < proxies:
        return remote
    return _valid_address(hops[-proxies]) or remote
