from . import admin_access  # noqa: F401  (read-only access audit)
