"""Forms of prompt review: date ranges, workflow notes, reveal reasons, queue filters."""

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from django import forms

from aoai_portal.params import year_validator

if TYPE_CHECKING:
    from .selectors import QueueFilters


class DateRangeForm(forms.Form):
    """Days in UTC; ``until`` is inclusive on the form and exclusive (next midnight) once cleaned."""

    since = forms.DateField(help_text="First day (UTC)", validators=[year_validator])
    until = forms.DateField(help_text="Last day (UTC), inclusive", validators=[year_validator])

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until:
            if until < since:
                raise forms.ValidationError("The last day is before the first day.")
            data["since"] = datetime.combine(since, time.min, tzinfo=UTC)
            data["until"] = datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1)
        return data


class NoteForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class RevealForm(forms.Form):
    reason = forms.CharField(min_length=5, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class QueueFilterForm(forms.Form):
    rule = forms.ChoiceField(required=False, label="Rule / detector")
    severity = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Severity at least")
    status = forms.ChoiceField(required=False, label="Status")
    subscription = forms.CharField(required=False, max_length=256, label="APIM subscription")
    cost_center = forms.ChoiceField(required=False, label="Cost center")
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
    order = forms.ChoiceField(
        required=False,
        choices=[
            ("severity", "Most severe, then longest waiting"),
            ("newest", "Newest first"),
            ("oldest", "Oldest first"),
        ],
        label="Order",
    )

    def __init__(self, *args, rules: list[tuple[str, str]], cost_centers: list[tuple[str, str]], **kwargs):
        from .models import ReviewItem, Severity
        from .selectors import TODO

        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", "Any"), *rules]
        self.fields["severity"].choices = [("", "Any"), *Severity.choices]
        # "To do" first: the status a queue without one in its query string shows (``filters``).
        self.fields["status"].choices = [
            (TODO, "To do (open or in review)"),
            ("", "Any"),
            *ReviewItem.Status.choices,
        ]
        self.fields["cost_center"].choices = [("", "Any"), *cost_centers]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("'From' is after 'To'.")
        return data

    def filters(self) -> "QueueFilters":
        from .selectors import TODO, QueueFilters

        data = self.cleaned_data if self.is_valid() else {}
        # No status in the query string = what is left to do; an explicit empty one = any status.
        status = data.get("status", "") if "status" in self.data else TODO
        since = data.get("date_from")
        until = data.get("date_to")
        return QueueFilters(
            rule=data.get("rule", ""),
            severity=data.get("severity"),
            status=status,
            subscription=(data.get("subscription") or "").strip(),
            cost_center=data.get("cost_center", ""),
            since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
            until=datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1) if until else None,
            order=data.get("order") or "severity",
        )
