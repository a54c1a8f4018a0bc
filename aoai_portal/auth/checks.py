from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error, register

from aoai_portal.roles import ALL_ROLES


@register()
def role_map_settings_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[Error]:
    """ENTRA_ROLE_MAP / ENTRA_GROUP_MAP may only name the portal's roles."""
    errors = []
    for name in ("ENTRA_ROLE_MAP", "ENTRA_GROUP_MAP"):
        for value, role in getattr(settings, name, []):
            if role not in ALL_ROLES:
                errors.append(
                    Error(
                        f"{name} maps {value!r} to {role!r}, which is not a portal role.",
                        hint=f"Use one of: {', '.join(ALL_ROLES)}.",
                        id="portal_auth.E001",
                    )
                )
    return errors
