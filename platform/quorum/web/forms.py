"""Forms of the browser's settings pages: tenant switch, API keys, webhook endpoints."""

from django import forms
from django.core.exceptions import ValidationError

from quorum.jobs.models import JobStatus
from quorum.jobs.services import validate_webhook_url
from solutions import registry


class TenantSwitchForm(forms.Form):
    tenant_id = forms.IntegerField()


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What uses this key, e.g. “loan origination system”.",
        widget=forms.TextInput(attrs={"placeholder": "Integration name", "autocomplete": "off"}),
    )


class WebhookEndpointCreateForm(forms.Form):
    url = forms.CharField(
        max_length=500,
        label="Endpoint URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/quorum/events"}),
    )

    def clean_url(self) -> str:
        try:
            return validate_webhook_url(self.cleaned_data["url"])
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from error


class JobFilterForm(forms.Form):
    solution = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *JobStatus.choices])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["solution"].choices = [
            ("", "All solutions"),
            *[(solution.name, solution.title) for solution in registry.all_solutions()],
        ]
