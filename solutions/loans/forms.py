"""Browser forms: portfolio upload, outcome upload, and the tenant's credit policy."""

import json

from django import forms

from solutions.loans.models import LoanPolicy, ScoringModel
from solutions.loans.scoring import PolicySettings


class PortfolioUploadForm(forms.Form):
    model = forms.ChoiceField(choices=ScoringModel.choices, initial=ScoringModel.GERMAN, label="Scoring model")
    file = forms.FileField(label="Portfolio (CSV or JSON list)", help_text="One application per row; an optional application_id column is kept as your reference.")


class WindowForm(forms.Form):
    model = forms.ChoiceField(choices=ScoringModel.choices, initial=ScoringModel.GERMAN, label="Scoring model")
    days = forms.IntegerField(min_value=1, max_value=3650, initial=30, label="Window (days)")


class OutcomeUploadForm(forms.Form):
    file = forms.FileField(label="Outcomes CSV", help_text="Columns application_id (the result row id) and defaulted (1 or 0).")


class LoanPolicyForm(forms.ModelForm):
    grade_bands = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text='JSON: [["A", 0.02], ["B", 0.05], ..., ["G", 1.0]]')

    class Meta:
        model = LoanPolicy
        fields = ["approve_max_pd", "decline_min_pd", "min_age", "max_age", "base_score", "base_odds", "pdo", "grade_bands"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.initial.get("grade_bands"), list):
            self.initial["grade_bands"] = json.dumps(self.initial["grade_bands"])

    def clean_grade_bands(self) -> list:
        try:
            bands = json.loads(self.cleaned_data["grade_bands"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(bands, list) or not all(isinstance(b, list) and len(b) == 2 and isinstance(b[0], str) and isinstance(b[1], int | float) for b in bands):
            raise forms.ValidationError('Write a list of ["grade", highest PD] pairs.')
        return bands

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors:
            try:
                PolicySettings(**{name: cleaned.get(name) for name in self.Meta.fields})
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned
