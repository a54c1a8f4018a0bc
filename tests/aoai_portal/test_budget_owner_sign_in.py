"""A budget owner signed in through Entra (the local OpenID Connect provider): the app role
``BudgetOwner`` gives the role, and an Entra group of the ``groups`` claim the cost centers."""

from aoai_portal.roles import user_roles
from tests.support.oidc_provider import sign_in
from tests.support.true_up_data import march_build
from usage.models import CostCenter, CostCenterOwner

TEAM_FIN = "5b0c7a7e-2f7d-4c59-9d7b-6f1e2a3b4c5d"


def test_the_app_role_and_a_group_of_the_token_make_her_the_owner_of_fin(client, entra):
    march_build(invoice=False)
    CostCenterOwner.objects.create(cost_center=CostCenter.objects.get(code="FIN"), kind="group", value=TEAM_FIN)
    entra.profile(claims={"roles": ["BudgetOwner"], "groups": [TEAM_FIN, "ffffffff-0000-0000-0000-00000000000f"]})
    assert sign_in(client, entra, next_url="/").status_code == 302
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/chargeback/"
    assert user_roles(response.wsgi_request.user) == {"budget_owner"}
    data = client.get("/api/v1/chargeback?month=2026-03&group_by=subscription").json()
    assert [row["group"] for row in data["rows"]] == ["sub-b"]

    # Out of the group at the next sign-in: the role stays, the cost center goes.
    client.logout()
    entra.profile(claims={"roles": ["BudgetOwner"], "groups": []})
    sign_in(client, entra, next_url="/")
    assert client.get("/api/v1/chargeback?month=2026-03&group_by=subscription").json()["rows"] == []
