"""Role mappings: the admin's rows plus the settings defaults, validated loudly."""

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from aoai_portal.auth.models import RoleMapping
from aoai_portal.auth.services import SignInRefused, roles_from_claims
from aoai_portal.env import env_pairs

GROUP = "0a3e1c52-41c7-4f6e-9d0e-3c1d7b8e9f01"


def test_admin_and_settings_mappings_both_apply(db, settings):
    settings.ENTRA_ROLE_MAP = [("Portal.Finance", "finance")]
    settings.ENTRA_GROUP_MAP = []
    RoleMapping.objects.create(claim_type="role", value="Portal.Review", portal_role="reviewer")
    RoleMapping.objects.create(claim_type="group", value=GROUP, portal_role="admin")
    assert roles_from_claims(claims={"roles": ["portal.finance", "Portal.Review"]}) == {"finance", "reviewer"}
    assert roles_from_claims(claims={"groups": [GROUP.upper()]}) == {"admin"}
    # A group id in the roles claim (or the reverse) maps nothing.
    assert roles_from_claims(claims={"roles": [GROUP], "groups": ["Portal.Finance"]}) == set()


def test_groups_overage_is_refused_only_when_groups_are_mapped(db, settings):
    settings.ENTRA_ROLE_MAP = [("Finance", "finance")]
    settings.ENTRA_GROUP_MAP = []
    overage = {"roles": ["Finance"], "_claim_names": {"groups": "src1"}}
    assert roles_from_claims(claims=overage) == {"finance"}
    settings.ENTRA_GROUP_MAP = [(GROUP, "reviewer")]
    with pytest.raises(SignInRefused, match="overage"):
        roles_from_claims(claims=overage)


def test_the_admin_refuses_a_group_name_instead_of_an_object_id(client_for, admin_user):
    response = client_for(admin_user).post(
        "/admin/portal_auth/rolemapping/add/",
        {"claim_type": "group", "value": "Finance Team", "portal_role": "finance", "note": ""},
    )
    assert response.status_code == 200
    assert b"object id (a GUID)" in response.content
    assert not RoleMapping.objects.exists()


def test_the_admin_shows_the_settings_defaults(client_for, admin_user, settings):
    settings.ENTRA_ROLE_MAP = [("Portal.Finance", "finance")]
    page = client_for(admin_user).get("/admin/portal_auth/rolemapping/", follow=True)
    assert b"role Portal.Finance -&gt; finance" in page.content


def test_a_settings_mapping_to_an_unknown_role_fails_the_system_checks(settings):
    settings.ENTRA_ROLE_MAP = [("Finance", "accountant")]
    errors = [e for e in run_checks() if e.id == "portal_auth.E001"]
    assert len(errors) == 1 and "accountant" in errors[0].msg


def test_env_pairs_reads_repeated_keys_and_refuses_garbage(monkeypatch):
    monkeypatch.setenv("X_MAP", "Admin=admin, Admin=finance,,Reviewer=reviewer")
    assert env_pairs("X_MAP") == [("Admin", "admin"), ("Admin", "finance"), ("Reviewer", "reviewer")]
    monkeypatch.setenv("X_MAP", "Admin")
    with pytest.raises(ImproperlyConfigured, match="KEY=VALUE"):
        env_pairs("X_MAP")


def test_the_hasgroups_flag_counts_as_groups_overage(db, settings):
    settings.ENTRA_GROUP_MAP = [(GROUP, "reviewer")]
    with pytest.raises(SignInRefused, match="overage"):
        roles_from_claims(claims={"roles": [], "hasgroups": True})
