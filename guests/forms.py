"""Input shape and validation of the sponsor's pages; no side effects."""

from __future__ import annotations

import secrets

from django import forms
from django.utils import timezone
from django.utils.formats import date_format

from guests.app_settings import app_settings
from guests.services.sponsorship import (
    DatesNotAllowed,
    dates_check,
    extension_check,
    latest_end_date,
)
from portal.fields import PlainTextField


def submission_token() -> str:
    """A fresh token for a form that issues a key, so that sending it twice issues one."""
    return secrets.token_urlsafe(24)


class SubmissionField(forms.CharField):
    """The hidden token of a page that issues a key. Missing or mangled, the page was not ours
    or has been altered: the person reloads it."""

    EXPIRED = "This page is out of date. Reload it and press the button again."

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"required": self.EXPIRED, "max_length": self.EXPIRED})
        super().__init__(widget=forms.HiddenInput, max_length=64, **kwargs)


def _date_widget():
    return forms.DateInput(attrs={"type": "date"})


class InvitedUserRequestForm(forms.Form):
    first_name = PlainTextField(label="Guest's first name", max_length=100)
    last_name = PlainTextField(
        label="Guest's last name",
        max_length=100,
        help_text="As the guest will type it when registering.",
    )
    email = forms.EmailField(
        label="Guest's email",
        max_length=254,
        help_text="Used only to tell the guest when their access is about to end and when it "
        "ends. The key is never sent there.",
    )
    organisation = PlainTextField(label="Organisation", max_length=200)
    purpose = PlainTextField(
        multiline=True,
        label="Purpose of access",
        max_length=1000,
        help_text="What the guest will work on, and which services they need.",
    )
    start_date = forms.DateField(label="Start date", widget=_date_widget())
    end_date = forms.DateField(label="End date", widget=_date_widget())
    attest = forms.BooleanField(
        label="I attest that I know this person, that they need this access for their work "
        "with us, and that I will revoke it when they no longer do.",
        error_messages={"required": "Tick the box to attest to this request."},
    )
    submission = SubmissionField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["end_date"].help_text = (
            "Access ends at the end of this day. At most "
            f"{app_settings.MAX_DURATION.days} days from the start date, both included."
        )

    def clean(self):
        data = super().clean()
        start, end = data.get("start_date"), data.get("end_date")
        if start and end:
            try:
                dates_check(start_date=start, end_date=end, today=timezone.localdate())
            except DatesNotAllowed as exc:
                self.add_error(exc.field, str(exc))
        return data


class ExtendForm(forms.Form):
    end_date = forms.DateField(label="New end date", widget=_date_widget())

    def __init__(self, *args, sponsorship, **kwargs):
        self.sponsorship = sponsorship
        super().__init__(*args, **kwargs)
        latest = latest_end_date(sponsorship.start_date)
        self.fields["end_date"].help_text = (
            f"Later than {date_format(sponsorship.end_date, 'DATE_FORMAT')}, and at the latest "
            f"{date_format(latest, 'DATE_FORMAT')}."
        )
        self.fields["end_date"].widget.attrs["max"] = latest.isoformat()

    def clean_end_date(self):
        end = self.cleaned_data["end_date"]
        try:
            extension_check(sponsorship=self.sponsorship, end_date=end)
        except DatesNotAllowed as exc:
            raise forms.ValidationError(str(exc)) from exc
        return end


class ConfirmForm(forms.Form):
    """A confirmation that issues a key (a new key) and so carries a submission token."""

    submission = SubmissionField()


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the audit trail; the guest is not shown it.",
    )
