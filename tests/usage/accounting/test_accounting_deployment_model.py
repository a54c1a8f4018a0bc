"""A deployment with a known model is priced and shown as that model when the logs name none.

The real case: embeddings answers are cut at 8,192 bytes before their ``model`` and ``usage``, and
the deployment has no native row: the tokens are estimated, the model was unknown, the cost 0.
"""

import datetime as dt

import pytest

from tests.factories import gateway_request_create
from tests.support import accounting_samples as s
from usage.accounting.pricing import PriceBook
from usage.accounting.services import deployment_requests_refresh
from usage.ingestion.pipeline import requests_refresh
from usage.models import Deployment, GatewayRequest, ModelPrice, UsageHourly

pytestmark = pytest.mark.django_db

T = dt.datetime(2026, 11, 3, 9, 15, tzinfo=dt.UTC)


def embedding(cid: str, *, deployment: str) -> GatewayRequest:
    """An embeddings request whose answer was cut before its model and usage."""
    return gateway_request_create(
        correlation_id=cid,
        time=T,
        url=f"{s.BASE}/openai/deployments/{deployment}/embeddings?api-version=2024-10-21",
        response_code=200,
        request_body=s.dumps({"input": "the quick brown fox jumps over the lazy dog"}),
        response_body=s.cut(s.embeddings_response(dims=3072)),
        apim_subscription_id="sub-a",
    )


def test_the_book_knows_a_deployments_model_from_the_table_or_from_its_own_name():
    Deployment.objects.create(name="embed-prod", model="text-embedding-3-large")
    Deployment.objects.create(name="no-model")
    book = PriceBook.load()

    assert book.deployment_model("embed-prod") == "text-embedding-3-large"
    assert book.deployment_model("text-embedding-3-small") == "text-embedding-3-small"
    assert book.deployment_model("GPT-4o-2024-08-06") == "gpt-4o"
    assert book.deployment_model("no-model") == ""
    assert book.deployment_model("team-x-chat") == ""


def test_a_deployment_named_after_a_model_prices_requests_whose_logs_name_none():
    embedding("c-named", deployment="text-embedding-3-small")
    embedding("c-other", deployment="team-x-embed")

    requests_refresh(correlation_ids=["c-named", "c-other"])

    named = GatewayRequest.objects.get(correlation_id="c-named")
    price = ModelPrice.objects.get(
        model="text-embedding-3-small", source=ModelPrice.Source.GENAI_PRICES, deployment=""
    )
    assert named.prompt_tokens > 0
    assert (named.model, named.is_priced, named.price_version) == ("text-embedding-3-small", True, price.version)
    assert named.cost > 0
    other = GatewayRequest.objects.get(correlation_id="c-other")
    assert (other.model, other.is_priced, other.cost) == ("", False, 0)


def test_setting_a_deployments_model_reprices_its_stored_requests_and_their_rollups():
    embedding("c-1", deployment="team-x-embed")
    requests_refresh(correlation_ids=["c-1"])
    assert UsageHourly.objects.get(deployment="team-x-embed").model == ""

    Deployment.objects.create(name="team-x-embed", model="text-embedding-3-large")
    assert deployment_requests_refresh(deployment="team-x-embed") == 1

    row = GatewayRequest.objects.get(correlation_id="c-1")
    assert (row.model, row.is_priced) == ("text-embedding-3-large", True)
    rollup = UsageHourly.objects.get(deployment="team-x-embed")
    assert (rollup.model, rollup.cost) == ("text-embedding-3-large", row.cost)

    # Changed again: the requests shown as the old model move to the new one.
    Deployment.objects.filter(name="team-x-embed").update(model="text-embedding-3-small")
    assert deployment_requests_refresh(deployment="team-x-embed", models=["text-embedding-3-large"]) == 1
    assert GatewayRequest.objects.get(correlation_id="c-1").model == "text-embedding-3-small"


def test_a_model_the_logs_name_wins_over_the_deployments():
    Deployment.objects.create(name="gpt4o-prod", model="gpt-4o-mini")
    gateway_request_create(
        correlation_id="c-chat",
        time=T,
        url=s.CHAT_URL,
        response_code=200,
        request_body=s.chat_request([{"role": "user", "content": "hi"}]),
        response_body=s.chat_response(),
    )
    requests_refresh(correlation_ids=["c-chat"])
    assert GatewayRequest.objects.get(correlation_id="c-chat").model == "gpt-4o"


def test_saving_a_deployment_in_the_admin_recomputes_its_requests(client_for, admin_user):
    embedding("c-admin", deployment="team-y-embed")
    requests_refresh(correlation_ids=["c-admin"])
    response = client_for(admin_user).post(
        "/admin/usage/deployment/add/",
        {"name": "team-y-embed", "deployment_type": "global", "model": "text-embedding-3-small", "note": ""},
    )
    assert response.status_code == 302
    row = GatewayRequest.objects.get(correlation_id="c-admin")
    assert (row.model, row.is_priced) == ("text-embedding-3-small", True)
