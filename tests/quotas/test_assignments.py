"""Tier assignments keep their history: a new one closes the one in force, overlaps are refused."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from quotas.models import TierAssignment
from quotas.services import tier_assign
from tests.factories import tier_add

pytestmark = pytest.mark.django_db

OCT, NOV, DEC = (datetime(2026, m, 1, tzinfo=UTC) for m in (10, 11, 12))


def test_adding_an_assignment_in_the_admin_closes_the_one_in_force(client):
    small, large = tier_add("Small"), tier_add("Large")
    tier_assign(kind="product", key="prod-a", tier=small, valid_from=OCT)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-root-123"))

    response = client.post(
        "/admin/quotas/tierassignment/add/",
        {
            "kind": "product",
            "key": "prod-a",
            "tier": large.pk,
            "valid_from_0": "2026-11-15",
            "valid_from_1": "00:00:00",
            "note": "grew",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    rows = list(TierAssignment.objects.filter(key="prod-a").order_by("valid_from"))
    assert [(r.tier.name, r.valid_to) for r in rows] == [
        ("Small", datetime(2026, 11, 15, tzinfo=UTC)),
        ("Large", None),
    ]


def test_an_assignment_overlapping_a_closed_period_is_refused_with_a_reason():
    tier = tier_add("T")
    tier_assign(kind="subscription", key="sub-a", tier=tier, valid_from=OCT)
    tier_assign(kind="subscription", key="sub-a", tier=tier, valid_from=DEC)
    with pytest.raises(ValidationError, match="Overlaps the assignment"):
        tier_assign(kind="subscription", key="sub-a", tier=tier, valid_from=NOV)
    assert TierAssignment.objects.filter(key="sub-a").count() == 2
