"""The price admin: previews a new price per cost center, then applies it; rows are not edited."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.support import accounting_samples as s
from usage.ingestion.pipeline import requests_refresh
from usage.models import CostCenter, CostCenterAssignment, GatewayRequest, ModelPrice

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced_request():
    CostCenterAssignment.objects.create(
        kind="subscription", key="sub-fin", cost_center=CostCenter.objects.create(code="FIN", name="Finance")
    )
    GatewayRequest.objects.create(
        correlation_id="c1",
        time=dt.datetime.now(dt.UTC),
        response_code=200,
        url=s.CHAT_URL,
        apim_subscription_id="sub-fin",
        request_body=s.chat_request(s.MESSAGES),
        response_body=s.chat_response(
            usage={"prompt_tokens": 1000, "completion_tokens": 0, "total_tokens": 1000}
        ),
    )
    requests_refresh(correlation_ids=["c1"])
    return GatewayRequest.objects.get()


def proposal(**extra) -> dict:
    start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return {
        "model": "GPT-4o",
        "deployment": "",
        "deployment_type": "global",
        "currency": "usd",
        "effective_from": start.strftime("%Y-%m-%d %H:%M:%S"),
        "input_per_1m": "7",
        "output_per_1m": "0",
        "note": "negotiated",
        **extra,
    }


def test_adding_a_price_goes_through_the_preview(client_for, admin_user):
    client = client_for(admin_user)
    response = client.get(reverse("admin:usage_modelprice_add"))
    assert response.status_code == 302 and response.url == reverse("admin:usage_modelprice_preview")


def test_the_preview_shows_the_cost_center_change_and_apply_reprices(client_for, admin_user, priced_request):
    client = client_for(admin_user)
    url = reverse("admin:usage_modelprice_preview")
    response = client.post(url, {**proposal(), "preview": "Preview"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "FIN Finance" in body and "0.0070" in body  # 1000 tokens at 7 per 1M
    assert not ModelPrice.objects.filter(source="admin").exists()

    response = client.post(url, {**proposal(), "apply": "Apply this price"})
    assert response.status_code == 302
    price = ModelPrice.objects.get(source="admin")
    assert (price.model, price.currency, price.source_version) == ("gpt-4o", "USD", "ada")
    row = GatewayRequest.objects.get()
    assert (row.cost, row.price_version) == (Decimal("0.007"), price.version)


def test_people_without_the_admin_role_cannot_open_the_preview(client_for, finance_user):
    response = client_for(finance_user).get(reverse("admin:usage_modelprice_preview"))
    assert response.status_code == 403


def test_price_rows_cannot_be_edited(client_for, admin_user):
    price = ModelPrice.objects.first()
    response = client_for(admin_user).post(
        reverse("admin:usage_modelprice_change", args=[price.pk]), {"input_per_1m": "0"}
    )
    assert response.status_code == 403
    price.refresh_from_db()
    assert price.input_per_1m > 0
