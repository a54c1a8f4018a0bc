import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from aoai_portal.roles import ADMIN, BUDGET_OWNER, FINANCE, REVIEWER


class EntraIdentity(models.Model):
    """Links a Django user to an Entra account by its immutable object id + tenant id.

    ``preferred_username`` (the UPN) can be renamed and reassigned in Entra, so it is never the key.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entra_identity"
    )
    tenant_id = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    preferred_username = models.CharField(max_length=256, blank=True)
    first_sign_in = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField(null=True, blank=True)
    # Claim values seen at the last sign-in, for the admin to understand the mapped roles.
    last_roles_claim = models.JSONField(default=list, blank=True)
    last_groups_claim = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "Entra identity"
        verbose_name_plural = "Entra identities"
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "object_id"], name="entra_identity_oid_tid_unique")
        ]

    def __str__(self) -> str:
        return f"{self.preferred_username or self.object_id} ({self.tenant_id})"


PORTAL_ROLE_CHOICES = [
    (FINANCE, "finance"),
    (REVIEWER, "reviewer"),
    (ADMIN, "admin"),
    (BUDGET_OWNER, "budget owner"),
]


class RoleMapping(models.Model):
    """An Entra app role value or group object id that grants a portal role.

    Used together with the defaults of ENTRA_ROLE_MAP / ENTRA_GROUP_MAP; roles are re-synced from
    these at every sign-in.
    """

    class ClaimType(models.TextChoices):
        ROLE = "role", "App role (roles claim)"
        GROUP = "group", "Group object id (groups claim)"

    claim_type = models.CharField(max_length=8, choices=ClaimType.choices)
    value = models.CharField(
        max_length=256,
        help_text="The app role value (e.g. Finance.Read) or the group's object id (a GUID). "
        "Compared case-insensitively.",
    )
    portal_role = models.CharField(max_length=16, choices=PORTAL_ROLE_CHOICES)
    note = models.CharField(max_length=256, blank=True, help_text="E.g. the group's display name.")

    class Meta:
        ordering = ["claim_type", "value", "portal_role"]
        constraints = [
            models.UniqueConstraint(fields=["claim_type", "value", "portal_role"], name="role_mapping_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_claim_type_display()} {self.value} -> {self.portal_role}"

    def clean(self) -> None:
        self.value = self.value.strip()
        if self.claim_type == self.ClaimType.GROUP:
            try:
                uuid.UUID(self.value)
            except ValueError as exc:
                raise ValidationError(
                    {"value": "A group is identified by its object id (a GUID), not its name."}
                ) from exc


class ApiToken(models.Model):
    """A personal API token. Only the sha256 of the token is stored; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=128, help_text="What the token is for, e.g. 'Power BI'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    revoked = models.BooleanField(default=False)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.user}, aoai_{self.prefix}_…)"

    @property
    def is_usable(self) -> bool:
        return not self.revoked and self.expires > timezone.now() and self.user.is_active
