""""My API tokens": every user with a portal role makes, lists and revokes their own API tokens.

A token acts as its user at the time of each call: the user's roles and cost centers then, not
when the token was made (``aoai_portal.auth.api_auth``). The token text is shown once, in the
answer to the POST that made it; only its hash is stored.
"""

from datetime import UTC, date, datetime, timedelta
from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from aoai_portal.roles import ALL_ROLES, role_required

from .services import SELF_SERVICE_MAX_DAYS, api_token_create, api_token_own_revoke, api_tokens_of


def _today() -> date:
    return datetime.now(UTC).date()


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(max_length=128, help_text="What the token is for, e.g. 'Power BI'.")
    expires = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"Required; at most {SELF_SERVICE_MAX_DAYS} days from today (UTC).",
    )

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name

    def clean_expires(self) -> date:
        expires: date = self.cleaned_data["expires"]
        today = _today()
        if expires <= today:
            raise forms.ValidationError("The expiry must be after today.")
        if expires > today + timedelta(days=SELF_SERVICE_MAX_DAYS):
            raise forms.ValidationError(f"A token may live at most {SELF_SERVICE_MAX_DAYS} days.")
        return expires

    @property
    def days(self) -> int:
        expires: date = self.cleaned_data["expires"]
        return (expires - _today()).days


def _blank_form() -> ApiTokenCreateForm:
    return ApiTokenCreateForm(initial={"expires": _today() + timedelta(days=90)})


@never_cache
@role_required(*ALL_ROLES)
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """GET: the user's tokens and the form; POST: make a token and show its text this once."""
    user = cast(User, request.user)  # role_required let only signed-in users through
    created = raw = None
    if request.method == "POST":
        form = ApiTokenCreateForm(request.POST)
        if form.is_valid():
            created, raw = api_token_create(user=user, name=form.cleaned_data["name"], days=form.days)
            form = _blank_form()
    else:
        form = _blank_form()
    context = {
        "form": form,
        "tokens": api_tokens_of(user=user),
        "created": created,
        "raw": raw,
        "max_days": SELF_SERVICE_MAX_DAYS,
        "now": datetime.now(UTC),
    }
    status = 400 if request.method == "POST" and created is None else 200
    return render(request, "registration/api_tokens.html", context, status=status)


@role_required(*ALL_ROLES)
@require_POST
def api_token_revoke_own(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens; someone else's token is 404, as if it did not exist."""
    token = api_token_own_revoke(user=cast(User, request.user), token_id=token_id)
    if token is None:
        raise Http404("No such token.")
    messages.success(request, f"Token {token.name!r} is revoked: it no longer works.")
    return redirect("api_tokens")
