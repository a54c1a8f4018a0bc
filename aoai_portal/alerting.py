"""Sending an alert through every configured channel: e-mail (``ALERT_EMAIL_TO``) and an incoming
webhook (``ALERT_WEBHOOK_URL``). Shared by the quota alerts and the ingestion health alerts."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

log = logging.getLogger(__name__)


def alert_channels_configured() -> bool:
    return bool(settings.ALERT_EMAIL_TO or settings.ALERT_WEBHOOK_URL)


def _webhook_post(*, url: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "aoai-portal-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS) as response:
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(
                url, response.status, "webhook refused the alert", response.headers, None
            )


def alert_deliver(*, subject: str, body: str, details: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Send by every configured channel; returns (channels that took it, errors).

    The webhook gets ``{"text": ..., "alert": details}``: "text" is what both Slack and Teams
    incoming webhooks display. One channel failing does not stop the other.
    """
    channels: list[str] = []
    errors: list[str] = []
    if settings.ALERT_EMAIL_TO:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, list(settings.ALERT_EMAIL_TO))
            channels.append("email")
        except Exception as exc:  # SMTP errors must not stop the other channel
            log.warning("alert e-mail failed: %s", exc)
            errors.append(f"email: {exc}")
    if settings.ALERT_WEBHOOK_URL:
        try:
            _webhook_post(
                url=settings.ALERT_WEBHOOK_URL, payload={"text": f"**{subject}**\n\n{body}", "alert": details}
            )
            channels.append("webhook")
        except (OSError, ValueError) as exc:  # URLError/HTTPError/timeouts are OSErrors
            log.warning("alert webhook failed: %s", exc)
            errors.append(f"webhook: {exc}")
    return channels, errors
