"""Portal sign-ins fill the People table, through the real redirect flow of the local OIDC provider."""

from aoai_portal.auth import hooks
from tests.support.oidc_provider import sign_in
from usage.models import CostCenter, NamedIdentity
from usage.people.selectors import person_labels

ALICE = "00000000-0000-0000-0000-0000000000a1"


def test_a_sign_in_names_the_users_object_id(client, entra):
    entra.profile(claims={"roles": ["Finance"], "email": "alice@contoso.example"})
    assert sign_in(client, entra).status_code == 302
    person = NamedIdentity.objects.get(object_id=ALICE)
    assert (person.display_name, person.email, person.kind, person.source) == (
        "Alice Example",
        "alice@contoso.example",
        "user",
        "signin",
    )
    assert person_labels(object_ids=[ALICE, "someone-else"]) == {
        ALICE: "Alice Example",
        "someone-else": "someone-else",
    }


def test_a_sign_in_without_a_role_still_names_the_user(client, entra):
    entra.profile(claims={"roles": [], "email": ""})
    sign_in(client, entra)
    # The e-mail falls back on the UPN when it looks like an address.
    assert NamedIdentity.objects.filter(object_id=ALICE, email="alice@contoso.example").exists()


def test_a_later_sign_in_renames_a_signed_in_person_but_never_blanks_them(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    sign_in(client, entra)
    client.post("/accounts/logout/")
    entra.profile(claims={"roles": ["Finance"], "name": "Alice Married"})
    sign_in(client, entra)
    assert NamedIdentity.objects.get(object_id=ALICE).display_name == "Alice Married"
    client.post("/accounts/logout/")
    entra.profile(claims={"roles": ["Finance"]}, remove=["name"])
    sign_in(client, entra)
    assert NamedIdentity.objects.get(object_id=ALICE).display_name == "Alice Married"


def test_a_sign_in_keeps_what_an_admin_wrote_and_fills_only_the_gaps(client, entra):
    center = CostCenter.objects.create(code="CC-7", name="Research")
    NamedIdentity.objects.create(
        object_id=ALICE, display_name="Dr. A. Example", email="", cost_center=center, source="admin"
    )
    entra.profile(claims={"roles": ["Finance"], "email": "alice@contoso.example"}, remove=["name"])
    sign_in(client, entra)
    person = NamedIdentity.objects.get(object_id=ALICE)
    assert (person.display_name, person.email, person.cost_center, person.source) == (
        "Dr. A. Example",
        "alice@contoso.example",
        center,
        "admin",
    )
    client.post("/accounts/logout/")
    entra.profile(claims={"roles": ["Finance"], "name": "Alice Example"})
    sign_in(client, entra)
    assert NamedIdentity.objects.get(object_id=ALICE).display_name == "Dr. A. Example"


def test_a_failing_people_update_never_refuses_the_sign_in(client, entra, monkeypatch):
    def broken(*, claims):
        NamedIdentity.objects.create(object_id=ALICE, display_name="x")
        NamedIdentity.objects.create(object_id=ALICE, display_name="y")  # unique: IntegrityError

    monkeypatch.setattr(hooks, "_hooks", [broken])
    entra.profile(claims={"roles": ["Finance"]})
    response = sign_in(client, entra, next_url="/chargeback/")
    assert response.status_code == 302
    assert response["Location"] == "/chargeback/"
    assert client.get("/chargeback/").status_code == 200
    # The savepoint undid the hook's half-done work, and only that.
    assert not NamedIdentity.objects.filter(object_id=ALICE).exists()
