"""Browser forms: contract upload, finding review and the tenant's playbook."""

import json

from django import forms

from solutions.contracts.extraction import INPUT_KINDS
from solutions.contracts.models import FindingStatus
from solutions.contracts.playbook import InvalidPlaybook, validate_rules


class ContractUploadForm(forms.Form):
    file = forms.FileField(label="Contract", help_text=f"One file: {', '.join(INPUT_KINDS)}.",
                           widget=forms.ClearableFileInput(attrs={"accept": ",".join(INPUT_KINDS)}))


class ReviewForm(forms.Form):
    status = forms.ChoiceField(choices=FindingStatus.choices)
    category = forms.CharField(required=False)


class PlaybookForm(forms.Form):
    rules = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "mono"}), help_text=(
        "JSON list of rules. Kinds: clause_required / clause_flagged (category), notice_period_min_days "
        "(min_days), governing_law_allowed (allowed: list). Each may have a label and a severity (high, medium, low)."))

    def clean_rules(self) -> list:
        try:
            return validate_rules(json.loads(self.cleaned_data["rules"]))
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        except InvalidPlaybook as exc:
            raise forms.ValidationError(str(exc)) from None
