"""``manage.py import_people FILE`` and the admin site's CSV upload of the People table."""

import io

import pytest
from django.core.management import call_command

from usage.models import CostCenter, NamedIdentity
from usage.people.csv_import import people_csv_import
from usage.people.services import person_observe

BOB = "11111111-1111-1111-1111-111111111111"
APP = "22222222-2222-2222-2222-222222222222"
EVE = "33333333-3333-3333-3333-333333333333"


@pytest.fixture
def centers(db):
    return {code: CostCenter.objects.create(code=code, name=code.title()) for code in ("CC-1", "CC-2")}


def _run(tmp_path, content: bytes) -> tuple[str, str]:
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    call_command("import_people", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


HEADED = (
    "\ufeffDisplay Name,ObjectId,Mail,Kind,Cost Center,Notes\r\n"
    f"Bob Builder,{BOB},bob@contoso.example,user,CC-1,ignored\r\n"
    f"Invoice Bot,{APP},,Application,CC-2,\r\n"
    "No Id,,x@contoso.example,user,,\r\n"
    f"Eve,{EVE},,robot,,\r\n"
    "\r\n"
    f"Someone,44444444-4444-4444-4444-444444444444,,user,CC-404,\r\n"
    f"Bob Again,{BOB},,user,,\r\n"
    ",55555555-5555-5555-5555-555555555555,,user,,\r\n"
    '"Quoted, Name",66666666-6666-6666-6666-666666666666,q@contoso.example,,,\r\n'
).encode()


def test_it_imports_a_headed_file_with_a_bom_and_reports_each_bad_line(tmp_path, centers):
    out, err = _run(tmp_path, HEADED)
    assert out.strip().endswith("8 lines: 3 created, 0 updated, 0 unchanged, 5 bad")
    assert "people.csv:4: no object_id" in err
    assert "people.csv:5: kind 'robot' is neither user nor application" in err
    assert "people.csv:7: no cost center with code 'CC-404'" in err
    assert f"people.csv:8: object_id {BOB} already on line 2" in err
    assert "people.csv:9: no display_name for a person not yet known" in err
    assert "columns ignored: Notes" in err
    bob = NamedIdentity.objects.get(object_id=BOB)
    assert (bob.display_name, bob.email, bob.kind, bob.cost_center, bob.source) == (
        "Bob Builder",
        "bob@contoso.example",
        "user",
        centers["CC-1"],
        "csv",
    )
    app = NamedIdentity.objects.get(object_id=APP)
    assert (app.kind, app.cost_center) == ("application", centers["CC-2"])
    assert (
        NamedIdentity.objects.get(object_id="66666666-6666-6666-6666-666666666666").display_name
        == "Quoted, Name"
    )
    assert NamedIdentity.objects.count() == 3


def test_importing_the_same_file_again_changes_nothing(tmp_path, centers):
    _run(tmp_path, HEADED)
    before = list(NamedIdentity.objects.order_by("object_id").values())
    out, _ = _run(tmp_path, HEADED)
    assert out.strip().endswith("8 lines: 0 created, 0 updated, 3 unchanged, 5 bad")
    assert list(NamedIdentity.objects.order_by("object_id").values()) == before


def test_a_file_without_header_or_bom_is_read_in_the_documented_column_order(tmp_path, centers):
    content = f"{BOB},Bob Builder,bob@contoso.example,Engineering,user,CC-2\n{APP},Bot,,,app,,extra\n"
    out, err = _run(tmp_path, content.encode())
    assert out.strip().endswith("2 lines: 1 created, 0 updated, 0 unchanged, 1 bad")
    assert "people.csv:2: 7 columns, expected at most 6" in err
    bob = NamedIdentity.objects.get(object_id=BOB)
    assert (bob.department, bob.cost_center) == ("Engineering", centers["CC-2"])


def test_empty_cells_keep_stored_values_and_the_import_wins_over_sign_ins(tmp_path, centers):
    person_observe(object_id=BOB, source="signin", display_name="Bob B.", email="bob@contoso.example")
    out, _ = _run(
        tmp_path, f"object_id,display_name,email,department\n{BOB},Robert Builder,,Sales\n".encode()
    )
    assert "1 updated" in out
    bob = NamedIdentity.objects.get(object_id=BOB)
    assert (bob.display_name, bob.email, bob.department, bob.source) == (
        "Robert Builder",
        "bob@contoso.example",
        "Sales",
        "csv",
    )
    # A later sign-in no longer renames a person an admin imported.
    person_observe(object_id=BOB, source="signin", display_name="Bob B.")
    assert NamedIdentity.objects.get(object_id=BOB).display_name == "Robert Builder"


def test_a_line_that_is_not_utf8_is_refused_alone(db):
    content = f"object_id,display_name\n{BOB},Bj".encode() + b"\xf6rn\n" + f"{APP},Zo\u00eb\n".encode()
    result = people_csv_import(stream=io.BytesIO(content))
    assert (result.created, result.bad, result.bad_lines) == (1, 1, [(2, "not UTF-8 text")])
    assert NamedIdentity.objects.get(object_id=APP).display_name == "Zo\u00eb"


def test_a_missing_file_is_an_error(db):
    with pytest.raises(Exception, match="no such file"):
        call_command("import_people", "/nonexistent/people.csv")


# --- Admin site -----------------------------------------------------------------------------------


def test_the_admin_lists_and_searches_people(client_for, admin_user):
    NamedIdentity.objects.create(object_id=BOB, display_name="Bob Builder", email="bob@contoso.example")
    NamedIdentity.objects.create(object_id=APP, display_name="Invoice Bot", kind="application")
    client = client_for(admin_user)
    page = client.get("/admin/usage/namedidentity/?q=contoso")
    assert page.status_code == 200
    assert b"Bob Builder" in page.content and b"Invoice Bot" not in page.content
    assert b"/admin/usage/namedidentity/import/" in page.content


def test_an_admin_edit_marks_the_row_written_by_hand(client_for, admin_user):
    person = person_observe(object_id=BOB, source="graph", display_name="Bob B.")
    client = client_for(admin_user)
    response = client.post(
        f"/admin/usage/namedidentity/{person.pk}/change/",
        {"object_id": BOB, "display_name": "Bob the Builder", "email": "", "department": "", "kind": "user"},
    )
    assert response.status_code == 302, response.content
    person.refresh_from_db()
    assert (person.display_name, person.source) == ("Bob the Builder", "admin")


def test_the_admin_uploads_a_csv_and_shows_the_bad_lines(client_for, admin_user, centers):
    client = client_for(admin_user)
    assert client.get("/admin/usage/namedidentity/import/").status_code == 200
    upload = io.BytesIO(HEADED)
    upload.name = "people.csv"
    response = client.post("/admin/usage/namedidentity/import/", {"file": upload})
    assert response.status_code == 200
    assert b"8 lines: 3 created, 0 updated, 0 unchanged, 5 bad" in response.content
    assert b"no cost center with code" in response.content
    assert NamedIdentity.objects.filter(object_id=BOB, source="csv").exists()


def test_only_admins_reach_the_people_import(client_for, finance_user):
    client = client_for(finance_user)
    response = client.get("/admin/usage/namedidentity/import/")
    assert response.status_code in (302, 403)
    assert NamedIdentity.objects.count() == 0
