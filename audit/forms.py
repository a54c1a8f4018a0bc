from django import forms

from aoai_portal.params import year_validator

from .models import AccessAuditEntry


class AccessLogFilterForm(forms.Form):
    user = forms.CharField(required=False, max_length=150, label="Person")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AccessAuditEntry.Action.choices], label="Action"
    )
    item = forms.CharField(required=False, max_length=64, label="Request (correlation id)")
    date_from = forms.DateField(
        required=False,
        label="From (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[year_validator],
    )
    date_to = forms.DateField(
        required=False,
        label="To (UTC, inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[year_validator],
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            raise forms.ValidationError("'From' is after 'To'.")
        return cleaned
