"""``person_labels``: what every page shows for an object id."""

from usage.models import NamedIdentity
from usage.people.selectors import person_label, person_labels


def test_a_named_id_shows_its_name_and_an_unknown_or_unnamed_id_shows_itself(db):
    NamedIdentity.objects.create(object_id="oid-ann", display_name="Ann Analyst")
    NamedIdentity.objects.create(object_id="oid-ghost", display_name="")  # asked Graph, not found
    assert person_labels(object_ids=["oid-ann", "oid-ghost", "oid-new", "", "oid-ann"]) == {
        "oid-ann": "Ann Analyst",
        "oid-ghost": "oid-ghost",
        "oid-new": "oid-new",
    }
    assert person_label(object_id="oid-ann") == "Ann Analyst"
    assert person_label(object_id="") == ""


def test_labels_are_read_in_chunks_for_many_ids(db, django_assert_max_num_queries):
    NamedIdentity.objects.bulk_create(
        NamedIdentity(object_id=f"oid-{n}", display_name=f"Person {n}") for n in range(0, 2500, 2)
    )
    with django_assert_max_num_queries(3):
        labels = person_labels(object_ids=(f"oid-{n}" for n in range(2500)))
    assert len(labels) == 2500
    assert (labels["oid-10"], labels["oid-11"]) == ("Person 10", "oid-11")
