from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import health, metrics, views
from .api import api
from .auth import token_views
from .auth import views as auth_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    # Browsers ask for /favicon.ico on pages that name no icon (admin site, API docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.logout_view, name="logout"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("tokens/", token_views.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", token_views.api_token_revoke_own, name="api_token_revoke"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("usage.urls")),
    path("", include("audit.urls")),
    path("", include("quotas.urls")),
    path("", include("costs.urls")),
]
