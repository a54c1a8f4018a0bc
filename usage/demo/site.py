"""The embedded demo: a local Log Analytics emulator, the real pull, demo people and cost centers.

``python manage.py demo`` (``bin/demo``) calls these; nothing here is used in production.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import close_old_connections, connection, transaction

from aoai_portal.roles import ADMIN, FINANCE, REVIEWER
from usage.models import CostCenter, CostCenterAssignment, GatewayIdentity, NamedIdentity

logger = logging.getLogger(__name__)

DEMO_WORKSPACE_ID = "00000000-0000-4000-8000-00000000de70"

# (code, name, owner) and what is charged to it. The "marketing" product stays unassigned on
# purpose: the chargeback pages show what is not charged to anyone.
COST_CENTERS = (
    ("CC-1100", "Search and discovery", "Dana Search"),
    ("CC-2200", "Customer support", "Sam Support"),
    ("CC-3300", "Legal", "Lee Legal"),
    ("CC-4400", "Research", "Rae Research"),
    ("CC-9000", "Platform (batch jobs)", "Pat Platform"),
)
PRODUCT_ASSIGNMENTS = {"search": "CC-1100", "support": "CC-2200", "legal": "CC-3300", "research": "CC-4400"}
# A subscription's own assignment wins over its product's.
SUBSCRIPTION_ASSIGNMENTS = {"sub-batch-jobs": "CC-9000"}
DEMO_PEOPLE = (("admin", ADMIN), ("finance", FINANCE), ("reviewer", REVIEWER))


@dataclass
class DemoAccount:
    username: str
    role: str
    password: str


def demo_log_analytics_configure(*, endpoint: str) -> None:
    """Point the pull at the in-process emulator (this process only)."""
    settings.LOG_ANALYTICS_ENDPOINT = endpoint
    settings.LOG_ANALYTICS_WORKSPACE_ID = DEMO_WORKSPACE_ID
    settings.LOG_ANALYTICS_CREDENTIAL = "static"
    settings.LOG_ANALYTICS_ALLOW_HTTP = True


@transaction.atomic
def demo_accounts_create() -> list[DemoAccount]:
    """One local account per role, each with a fresh random password (re-running resets them)."""
    accounts = []
    for username, role in DEMO_PEOPLE:
        group, _ = Group.objects.get_or_create(name=role)
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.invalid", "first_name": role.title()}
        )
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_active = True
        user.save()
        user.groups.add(group)
        accounts.append(DemoAccount(username=username, role=role, password=password))
    return accounts


@transaction.atomic
def demo_cost_centers_seed() -> int:
    """The demo's cost centers and their assignments; returns how many assignments exist."""
    from usage.demo.catalog import APIM_MANAGED_IDENTITY

    centers = {}
    for code, name, owner in COST_CENTERS:
        centers[code], _ = CostCenter.objects.update_or_create(
            code=code, defaults={"name": name, "owner": owner}
        )
    for kind, mapping in (
        (CostCenterAssignment.Kind.PRODUCT, PRODUCT_ASSIGNMENTS),
        (CostCenterAssignment.Kind.SUBSCRIPTION, SUBSCRIPTION_ASSIGNMENTS),
    ):
        for key, code in mapping.items():
            CostCenterAssignment.objects.update_or_create(
                kind=kind, key=key, defaults={"cost_center": centers[code]}
            )
    NamedIdentity.objects.update_or_create(
        object_id=APIM_MANAGED_IDENTITY,
        defaults={
            "display_name": "APIM managed identity (apim-contoso-ai)",
            "kind": NamedIdentity.Kind.APPLICATION,
            "cost_center": centers["CC-9000"],
        },
    )
    demo_people_seed()
    return CostCenterAssignment.objects.count()


def demo_people_seed() -> int:
    """The demo's people and applications (the People table) and APIM's managed identity as a
    gateway identity, so the callers are found before the demo's rows are ingested."""
    from usage.demo.catalog import APIM_MANAGED_IDENTITY, APPLICATIONS, PEOPLE

    GatewayIdentity.objects.update_or_create(
        object_id=APIM_MANAGED_IDENTITY, defaults={"note": "apim-contoso-ai (system-assigned)"}
    )
    for caller in (*PEOPLE, *APPLICATIONS):
        NamedIdentity.objects.update_or_create(
            object_id=caller.object_id,
            defaults={
                "display_name": caller.display_name,
                "email": caller.email,
                "department": caller.department,
                "kind": caller.kind,
                "source": "admin",
            },
        )
    return len(PEOPLE) + len(APPLICATIONS)


class DemoScheduler:
    """Runs the incremental pull every ``interval`` seconds in a daemon thread (the embedded
    stand-in for Celery beat; the pull's own lock still keeps runs from overlapping)."""

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-scheduler", daemon=True)

    def start(self) -> DemoScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        from usage.tasks import ingest_pull

        while not self._stop.wait(self.interval):
            close_old_connections()
            try:
                result = ingest_pull()  # what beat runs, called in-process
                logger.info("demo pull: %d rows stored", sum(t["stored"] for t in result.values()))
            except Exception:  # keep the demo alive; the status page shows the failed run
                logger.exception("demo pull failed")
            finally:
                self.runs += 1
                connection.close()
