"""The APIM policy rendered per tier: valid XML, the right limits, downloadable from the admin."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from quotas.models import PolicyFlavor
from quotas.policy import assignments_policy_render, tier_policy_render
from quotas.services import tier_assign
from tests.factories import tier_add

pytestmark = pytest.mark.django_db

TIERS = [
    dict(name="Bronze", tpm=1_000, quota=100_000, estimate_prompt_tokens=False),
    dict(name="Gold", tpm=50_000, quota=20_000_000, budget="500.00"),
    dict(
        name="Mini only",
        tpm=5_000,
        quota=1_000_000,
        deployments="gpt-4o-mini\nembed-small",
        models="gpt-4o-mini",
    ),
    dict(name="Azure", tpm=8_000, quota=2_000_000, policy_flavor=PolicyFlavor.AZURE_OPENAI),
]


def _make(spec: dict):
    spec = dict(spec)
    return tier_add(spec.pop("name"), **spec)


@pytest.mark.parametrize("spec", TIERS, ids=[t["name"] for t in TIERS])
def test_each_tier_renders_a_policy_with_its_own_limits(spec):
    tier = _make(spec)
    root = ET.fromstring(tier_policy_render(tier=tier))

    assert root.tag == "policies"
    assert [child.tag for child in root] == ["inbound", "backend", "outbound", "on-error"]
    inbound = root.find("inbound")
    assert inbound[0].tag == "base"
    limits = [el for el in inbound if el.tag in ("llm-token-limit", "azure-openai-token-limit")]
    assert len(limits) == 1
    limit = limits[0]
    assert limit.tag == tier.policy_flavor
    assert limit.attrib == {
        "counter-key": "@(context.Subscription.Id)",
        "tokens-per-minute": str(spec["tpm"]),
        "token-quota": str(spec["quota"]),
        "token-quota-period": "Monthly",
        "estimate-prompt-tokens": "false" if spec.get("estimate_prompt_tokens") is False else "true",
        "remaining-quota-tokens-header-name": "x-quota-remaining-monthly-tokens",
        "remaining-tokens-header-name": "x-quota-remaining-tokens",
        "tokens-consumed-header-name": "x-quota-tokens-consumed",
    }

    conditions = [when.get("condition") for when in inbound.iter("when")]
    if "deployments" in spec:
        # The allow-list check comes before the limit, so refused calls spend no tokens.
        assert [el.tag for el in inbound].index("choose") < [el.tag for el in inbound].index(limit.tag)
        assert len(conditions) == 2
        assert 'MatchedParameters.GetValueOrDefault("deployment-id", "")' in conditions[0]
        assert '"gpt-4o-mini", "embed-small"' in conditions[0]
        assert '["model"]' in conditions[1] and '"gpt-4o-mini"' in conditions[1]
        statuses = [s.get("code") for s in inbound.iter("set-status")]
        assert statuses == ["403", "403"]
    else:
        assert conditions == []


def test_the_flavor_can_be_switched_to_azure_openai_token_limit():
    tier = _make(TIERS[0])
    root = ET.fromstring(tier_policy_render(tier=tier, flavor=PolicyFlavor.AZURE_OPENAI))
    assert root.find("inbound/azure-openai-token-limit").get("token-quota") == "100000"
    assert root.find("inbound/llm-token-limit") is None
    with pytest.raises(ValueError, match="unknown policy flavor"):
        tier_policy_render(tier=tier, flavor="rate-limit")


def test_a_name_with_xml_characters_still_gives_valid_xml():
    tier = tier_add('R&D <"team"> -- beta', deployments='odd"name')
    root = ET.fromstring(tier_policy_render(tier=tier))
    assert 'new string[] { "odd\\"name" }' in root.find("inbound/choose/when").get("condition")


def test_an_admin_downloads_the_policy_xml_from_the_admin_site(client):
    tier = _make(TIERS[1])
    admin = User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)

    listing = client.get("/admin/quotas/quotatier/")
    url = f"/admin/quotas/quotatier/{tier.pk}/policy.xml"
    assert url.encode() in listing.content

    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == 'attachment; filename="apim-policy-gold-llm-token-limit.xml"'
    assert ET.fromstring(response.content).find("inbound/llm-token-limit").get("tokens-per-minute") == "50000"

    azure = client.get(url + "?flavor=azure-openai-token-limit")
    assert ET.fromstring(azure.content).find("inbound/azure-openai-token-limit") is not None
    assert client.get(url + "?flavor=nope").status_code == 400


def test_people_outside_the_admin_site_cannot_download_a_policy(client, finance_user):
    tier = _make(TIERS[0])
    client.force_login(finance_user)
    response = client.get(f"/admin/quotas/quotatier/{tier.pk}/policy.xml")
    # Refused by the admin site (sign-in redirect or 403 from the portal's admin guard), never the XML.
    assert response.status_code in (302, 403)
    assert b"<policies" not in response.content


def test_the_all_assignments_policy_puts_subscription_tiers_before_product_tiers(client):
    gold, bronze, old = _make(TIERS[1]), _make(TIERS[0]), tier_add("Retired", tpm=7, quota=7)
    start = timezone.now() - timedelta(days=10)
    tier_assign(kind="product", key="prod-a", tier=bronze, valid_from=start)
    tier_assign(kind="subscription", key="sub-vip", tier=old, valid_from=start)
    tier_assign(kind="subscription", key="sub-vip", tier=gold, valid_from=start + timedelta(days=1))

    root = ET.fromstring(assignments_policy_render(at=timezone.now()))

    whens = root.findall("inbound/choose/when")
    assert [w.get("condition") for w in whens] == [
        '@(context.Subscription != null && context.Subscription.Id == "sub-vip")',
        '@(context.Product != null && context.Product.Id == "prod-a")',
    ]
    assert [w.find("llm-token-limit").get("tokens-per-minute") for w in whens] == ["50000", "1000"]
    assert all(w.find("llm-token-limit").get("counter-key") == "@(context.Subscription.Id)" for w in whens)
    # Before anything was assigned the document is still valid, with nothing to enforce.
    empty = ET.fromstring(assignments_policy_render(at=datetime(2020, 1, 1, tzinfo=UTC)))
    assert empty.find("inbound/choose") is None

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-root-123"))
    listing = client.get("/admin/quotas/tierassignment/")
    assert b"/admin/quotas/tierassignment/policy.xml" in listing.content
    download = client.get("/admin/quotas/tierassignment/policy.xml")
    assert download.status_code == 200
    assert len(ET.fromstring(download.content).findall("inbound/choose/when")) == 2
