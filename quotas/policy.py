"""The APIM policy that enforces a tier, as XML to paste into the product's policy (inbound).

Attribute names and meanings follow Microsoft Learn, "Limit large language model API token usage"
(llm-token-limit) and "Limit Azure OpenAI API token usage" (azure-openai-token-limit):

* ``counter-key="@(context.Subscription.Id)"``: one counter per APIM subscription, the same id the
  gateway logs carry as ``ApimSubscriptionId``, so the portal and APIM count the same thing.
* ``tokens-per-minute``: over it APIM answers 429.
* ``token-quota`` + ``token-quota-period="Monthly"``: over it APIM answers 403. The period is a fixed
  window starting at the UTC timestamp truncated to the month, the same calendar month the portal uses.
* ``estimate-prompt-tokens``: estimate the prompt before calling the backend (streams are always estimated).
* ``remaining-tokens-header-name`` (per-minute headroom), ``remaining-quota-tokens-header-name``
  (monthly headroom) and ``tokens-consumed-header-name``: response headers for callers.

Allowed deployments/models are enforced by a ``choose`` before the limit: a call to a deployment the
tier does not allow gets 403 without reaching the backend or spending tokens.

Two documents: ``tier_policy_render`` (one tier, for a product's scope) and
``assignments_policy_render`` (every assignment in force, for the API or global scope; the only way
to give one subscription its own tier, since APIM has no per-subscription policy scope).
"""

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime

from django.db.models import Q
from django.http import HttpResponse
from django.utils.text import slugify

from .models import PolicyFlavor, QuotaTier, TierAssignment

COUNTER_KEY = "@(context.Subscription.Id)"
QUOTA_PERIOD = "Monthly"
REMAINING_TOKENS_HEADER = "x-quota-remaining-tokens"
REMAINING_QUOTA_TOKENS_HEADER = "x-quota-remaining-monthly-tokens"
TOKENS_CONSUMED_HEADER = "x-quota-tokens-consumed"


def _csharp_string_array(names: list[str]) -> str:
    # json.dumps produces a valid C# regular string literal for ordinary names (quotes and
    # backslashes escaped); ElementTree then escapes the quotes for the XML attribute.
    return "new string[] { " + ", ".join(json.dumps(n) for n in names) + " }"


def _forbidden(parent: ET.Element, *, condition: str, code: str, message: str) -> None:
    when = ET.SubElement(parent, "when", {"condition": condition})
    response = ET.SubElement(when, "return-response")
    ET.SubElement(response, "set-status", {"code": "403", "reason": "Forbidden"})
    header = ET.SubElement(response, "set-header", {"name": "Content-Type", "exists-action": "override"})
    ET.SubElement(header, "value").text = "application/json"
    ET.SubElement(response, "set-body").text = json.dumps({"error": {"code": code, "message": message}})


def _allow_lists(inbound: ET.Element, tier: QuotaTier) -> None:
    deployments, models = tier.deployment_list, tier.model_list
    if not deployments and not models:
        return
    choose = ET.SubElement(inbound, "choose")
    if deployments:
        _forbidden(
            choose,
            condition=(
                f"@(!{_csharp_string_array(deployments)}.Contains("
                'context.Request.MatchedParameters.GetValueOrDefault("deployment-id", "")))'
            ),
            code="DeploymentNotAllowed",
            message=f"Tier {tier.name} allows the deployments: {', '.join(deployments)}.",
        )
    if models:
        # Model-in-body APIs (OpenAI v1, Responses): read "model" from a JSON body, keep the body.
        _forbidden(
            choose,
            condition=(
                '@{ if (!context.Request.Headers.GetValueOrDefault("Content-Type", "").Contains("json")) '
                "{ return false; } "
                'var model = (string)context.Request.Body?.As<JObject>(preserveContent: true)?["model"]; '
                f"return model != null && !{_csharp_string_array(models)}.Contains(model); }}"
            ),
            code="ModelNotAllowed",
            message=f"Tier {tier.name} allows the models: {', '.join(models)}.",
        )


def tier_policy_element(*, tier: QuotaTier, flavor: str | None = None) -> ET.Element:
    """The ``<llm-token-limit>`` (or ``<azure-openai-token-limit>``) element for ``tier``."""
    flavor = flavor or tier.policy_flavor
    if flavor not in PolicyFlavor.values:
        raise ValueError(f"unknown policy flavor {flavor!r}; use one of {', '.join(PolicyFlavor.values)}")
    return ET.Element(
        flavor,
        {
            "counter-key": COUNTER_KEY,
            "tokens-per-minute": str(tier.tokens_per_minute),
            "token-quota": str(tier.monthly_token_quota),
            "token-quota-period": QUOTA_PERIOD,
            "estimate-prompt-tokens": "true" if tier.estimate_prompt_tokens else "false",
            "remaining-quota-tokens-header-name": REMAINING_QUOTA_TOKENS_HEADER,
            "remaining-tokens-header-name": REMAINING_TOKENS_HEADER,
            "tokens-consumed-header-name": TOKENS_CONSUMED_HEADER,
        },
    )


def _tier_statements(parent: ET.Element, *, tier: QuotaTier, flavor: str | None) -> None:
    note = (
        f" AOAI Portal quota tier {tier.name!r}: {tier.tokens_per_minute} tokens/minute, "
        f"{tier.monthly_token_quota} tokens/month (UTC calendar month). "
    )
    parent.append(ET.Comment(note.replace("--", "- -")))
    _allow_lists(parent, tier)
    parent.append(tier_policy_element(tier=tier, flavor=flavor))


def _document(fill: Callable[[ET.Element], None]) -> str:
    policies = ET.Element("policies")
    inbound = ET.SubElement(policies, "inbound")
    ET.SubElement(inbound, "base")
    fill(inbound)
    for section in ("backend", "outbound", "on-error"):
        ET.SubElement(ET.SubElement(policies, section), "base")
    ET.indent(policies, space="    ")
    return ET.tostring(policies, encoding="unicode") + "\n"


def tier_policy_render(*, tier: QuotaTier, flavor: str | None = None) -> str:
    """A complete ``<policies>`` document enforcing ``tier``; apply it at the product's scope."""
    return _document(lambda inbound: _tier_statements(inbound, tier=tier, flavor=flavor))


def assignments_policy_render(*, at: datetime) -> str:
    """One ``<policies>`` document for the API (or global) scope enforcing every assignment in force at ``at``.

    APIM has no per-subscription policy scope, so subscription tiers are branches of a ``choose`` on
    ``context.Subscription.Id``; they come before the product branches (``context.Product.Id``),
    which is how "a subscription's tier wins over its product's" holds in APIM too. Every branch
    counts on the same key (the subscription), so a tier change keeps the month's counter.
    """
    in_force = (
        TierAssignment.objects.filter(valid_from__lte=at, tier__effective_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .select_related("tier")
    )
    rank: dict[str, int] = {TierAssignment.Kind.SUBSCRIPTION: 0, TierAssignment.Kind.PRODUCT: 1}
    ordered = sorted(in_force, key=lambda a: (rank[a.kind], a.key))

    def fill(inbound: ET.Element) -> None:
        inbound.append(ET.Comment(f" AOAI Portal tier assignments in force at {at:%Y-%m-%d %H:%M} UTC "))
        if not ordered:
            inbound.append(ET.Comment(" No tier is assigned to any subscription or product. "))
            return
        choose = ET.SubElement(inbound, "choose")
        for a in ordered:
            if a.kind == TierAssignment.Kind.SUBSCRIPTION:
                condition = (
                    f"@(context.Subscription != null && context.Subscription.Id == {json.dumps(a.key)})"
                )
            else:
                condition = f"@(context.Product != null && context.Product.Id == {json.dumps(a.key)})"
            when = ET.SubElement(choose, "when", {"condition": condition})
            _tier_statements(when, tier=a.tier, flavor=None)

    return _document(fill)


def tier_policy_download(*, tier: QuotaTier, flavor: str | None) -> HttpResponse:
    """The tier's policy as an XML attachment (the tier's own flavor unless ``flavor`` names one);
    400 for an unknown flavor. The admin site's download answers with it too."""
    flavor = flavor or tier.policy_flavor
    if flavor not in PolicyFlavor.values:
        return HttpResponse(
            f"Unknown policy flavor {flavor!r}; use {' or '.join(PolicyFlavor.values)}.",
            status=400,
            content_type="text/plain",
        )
    response = HttpResponse(tier_policy_render(tier=tier, flavor=flavor), content_type="application/xml")
    filename = f"apim-policy-{slugify(tier.name) or tier.pk}-{flavor}.xml"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
