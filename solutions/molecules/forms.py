"""Forms of the molecule screening pages: the library upload and the two searches."""

from django import forms

from solutions.molecules.parsing import FORMAT_BY_SUFFIX


class LibraryUploadForm(forms.Form):
    file = forms.FileField(
        label="Compound library",
        help_text="SMILES (.smi), CSV/TSV with a SMILES column, SD file (.sdf, V2000 or V3000), "
        "JSON or JSON Lines.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(FORMAT_BY_SUFFIX)}),
    )
    smiles_column = forms.CharField(
        required=False, max_length=200,
        help_text="CSV only: the SMILES column, when it is not named smiles/canonical_smiles/...",
    )  # fmt: skip
    name_column = forms.CharField(required=False, max_length=200, help_text="CSV only, optional.")
    canonical_tautomer = forms.BooleanField(
        required=False, help_text="Also replace each molecule by RDKit's canonical tautomer."
    )


class SimilarityForm(forms.Form):
    smiles = forms.CharField(max_length=2000, label="Query SMILES")
    threshold = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.4, label="Min. Tanimoto")


class SubstructureForm(forms.Form):
    smarts = forms.CharField(max_length=2000, label="SMARTS pattern")
