from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalAuthConfig(AppConfig):
    name = "aoai_portal.auth"
    # "auth" is django.contrib.auth's label.
    label = "portal_auth"
    verbose_name = "Sign-in and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)


class PortalAdminConfig(AdminConfig):
    """The admin site, opened by the portal's admin role rather than Django's is_staff flag."""

    default_site = "aoai_portal.auth.admin_site.PortalAdminSite"
