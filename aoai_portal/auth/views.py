"""Sign-in and sign-out pages, and the two OIDC views of the Entra flow."""

import logging

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .backends import EntraOIDCBackend
from .entra import entra_config, entra_logout_url
from .services import SignInRefused

log = logging.getLogger(__name__)

SESSION_SIGNED_IN_WITH = "portal_signed_in_with"
REPLAYED_MESSAGE = (
    "This sign-in response was already used or does not belong to this browser session, so you "
    "were not signed in. Please sign in again."
)


def _signin_failed(request: HttpRequest, message: str, *, status: int = 403) -> HttpResponse:
    return render(request, "registration/signin_failed.html", {"message": message}, status=status)


class LoginView(auth_views.LoginView):
    """Sign-in page: the Entra button, and the local break-glass form unless PORTAL_LOCAL_LOGIN=false."""

    template_name = "registration/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["entra_enabled"] = entra_config().configured
        context["local_login_enabled"] = settings.PORTAL_LOCAL_LOGIN
        return context

    def post(self, request, *args, **kwargs):
        if not settings.PORTAL_LOCAL_LOGIN:
            context = self.get_context_data(form=self.get_form_class()(request))
            context["local_login_refused"] = True
            return self.render_to_response(context, status=403)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        self.request.session[SESSION_SIGNED_IN_WITH] = "local"
        return response


@never_cache
@csrf_protect
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Clear the session; offer to sign out of Entra ID too when that is how the user came in."""
    signed_in_with = request.session.get(SESSION_SIGNED_IN_WITH, "")
    auth.logout(request)
    context = {"entra_logout_url": entra_logout_url(request) if signed_in_with == "entra" else ""}
    return render(request, "registration/signed_out.html", context)


class EntraAuthenticationRequestView(OIDCAuthenticationRequestView):
    """Starts the code flow (state, nonce, PKCE S256) at Entra's authorize endpoint."""

    get_settings = staticmethod(EntraOIDCBackend.get_settings)

    def get(self, request):
        if not entra_config().configured:
            return _signin_failed(
                request,
                "Sign-in with Microsoft Entra ID is not configured on this server "
                "(ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET).",
                status=503,
            )
        return super().get(request)


@method_decorator(never_cache, name="dispatch")
class EntraAuthenticationCallbackView(OIDCAuthenticationCallbackView):
    """Entra's redirect back: any failure is a clear "sign-in failed" page, never a traceback."""

    get_settings = staticmethod(EntraOIDCBackend.get_settings)

    def get(self, request):
        try:
            return super().get(request)
        except SignInRefused as exc:
            log.warning("Entra sign-in refused: %s", exc.reason)
            return _signin_failed(request, exc.public_message)
        except SuspiciousOperation as exc:
            # mozilla-django-oidc: the state is not one this session started (replayed or forged).
            log.warning("Entra sign-in refused: %s", exc)
            return _signin_failed(request, REPLAYED_MESSAGE)

    def login_failure(self):
        error = self.request.GET.get("error", "")
        if error:
            log.warning("Entra returned %s: %s", error, self.request.GET.get("error_description", ""))
            message = f"Microsoft Entra ID did not sign you in ({error}). Please try again."
        elif "state" in self.request.GET:
            message = REPLAYED_MESSAGE
        else:
            message = "Sign-in did not complete. Please start again from the sign-in page."
        return _signin_failed(self.request, message)

    def login_success(self):
        response = super().login_success()
        self.request.session[SESSION_SIGNED_IN_WITH] = "entra"
        return response
