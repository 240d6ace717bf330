"""Browser forms of defect inspection: upload, review verdict, decision policy."""

from __future__ import annotations

from typing import Any

from django import forms

from solutions.defects.datasets import CLASSES, GOOD_CLASS
from solutions.defects.imaging import IMAGE_SUFFIXES, ZIP_SUFFIXES
from solutions.defects.models import Decision


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name, each checked like a single FileField."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join((*IMAGE_SUFFIXES, *ZIP_SUFFIXES))}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Images or ZIP archives",
        help_text="PNG, JPEG, BMP or TIFF images, or ZIP archives of them.",
    )


def class_label(name: str) -> str:
    return "no defect" if name == GOOD_CLASS else name.replace("_", " ")


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[(Decision.PASS, "Pass"), (Decision.FAIL, "Fail")])
    defect_class = forms.ChoiceField(choices=[(c, class_label(c)) for c in CLASSES], label="Defect class")
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict:
        data = super().clean()
        if data.get("decision") == Decision.FAIL and data.get("defect_class") == GOOD_CLASS:
            self.add_error("defect_class", "A failed part needs its defect class.")
        return data


class PolicyForm(forms.Form):
    target_percent = forms.FloatField(
        label="Target false-reject rate (%)", min_value=0.0, max_value=50.0,
        help_text="Share of good parts you accept to reject; lower means more defects escape.",
    )
    review_margin = forms.FloatField(
        min_value=0.0, max_value=0.5,
        help_text="Parts scoring this far below their class threshold go to the review queue.",
    )
