"""Forms of the adapter pages: dataset upload, training options, import, rollback."""

from typing import Any

from django import forms

from engine.lora import ATTENTION_PROJECTIONS, MAX_RANK
from quorum.adapters import services


def _solution_choices() -> list[tuple[str, str]]:
    return [(s.name, s.title) for s in services.adapter_solutions()]


def _base_model_choices() -> list[tuple[str, str]]:
    choices = []
    for solution in services.adapter_solutions():
        for name in services.hooks_for(solution.name).base_models():
            choices.append((name, f"{solution.title}: {name}"))
    return choices


class SolutionModelForm(forms.Form):
    solution = forms.ChoiceField(choices=())
    base_model = forms.ChoiceField(choices=(), help_text="The base checkpoint the adapter adapts.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["solution"].choices = _solution_choices()
        self.fields["base_model"].choices = _base_model_choices()


class DatasetForm(SolutionModelForm):
    name = forms.CharField(max_length=200, required=False)
    file = forms.FileField(required=False, help_text="Labelled data in the solution's format. "
                           "Leave empty to use your analysts' reviewed corrections.")


class ImportForm(SolutionModelForm):
    file = forms.FileField(help_text="A zip holding only adapter_config.json and adapter_model.safetensors.")


class TrainingForm(forms.Form):
    r = forms.IntegerField(min_value=1, max_value=MAX_RANK, initial=16, label="LoRA rank r")
    lora_alpha = forms.IntegerField(min_value=1, max_value=4 * MAX_RANK, initial=32, label="LoRA alpha")
    lora_dropout = forms.FloatField(min_value=0.0, max_value=0.5, initial=0.1, label="LoRA dropout")
    target_modules = forms.MultipleChoiceField(
        choices=[(name, name) for name in ATTENTION_PROJECTIONS], initial=["q_proj", "v_proj"],
        widget=forms.CheckboxSelectMultiple,
    )
    epochs = forms.IntegerField(min_value=1, max_value=50, initial=services.DEFAULT_TRAINING["epochs"])
    patience = forms.IntegerField(min_value=1, max_value=20, initial=services.DEFAULT_TRAINING["patience"],
                                  help_text="Epochs without improvement before training stops early.")
    batch_size = forms.IntegerField(min_value=8, max_value=512, initial=services.DEFAULT_TRAINING["batch_size"])
    lr = forms.FloatField(min_value=1e-5, max_value=1e-1, initial=services.DEFAULT_TRAINING["lr"], label="Learning rate")


class RollbackForm(forms.Form):
    solution = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["solution"].choices = _solution_choices()
