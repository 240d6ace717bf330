"""How screening jobs are requested and screening results read over the API."""

from rest_framework import serializers

from solutions.molecules.models import ScreeningResult


class ScreeningJobCreateSerializer(serializers.Serializer):
    molecules = serializers.ListField(
        child=serializers.JSONField(), required=False, max_length=100_000,
        help_text='SMILES strings or {"smiles": ..., "name": ...} objects (instead of files).',
    )  # fmt: skip
    files = serializers.ListField(
        child=serializers.FileField(), required=False,
        help_text="SMILES (.smi), CSV/TSV, SD (.sdf, V2000/V3000), JSON or JSON Lines files.",
    )  # fmt: skip
    smiles_column = serializers.CharField(required=False, allow_blank=True, max_length=200)
    name_column = serializers.CharField(required=False, allow_blank=True, max_length=200)
    canonical_tautomer = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("molecules") and not attrs.get("files"):
            raise serializers.ValidationError(
                {"molecules": ["Send a JSON list of molecules or upload files."]}
            )
        return attrs


class ScreeningResultSerializer(serializers.ModelSerializer):
    depiction_url = serializers.SerializerMethodField()

    class Meta:
        model = ScreeningResult
        fields = [
            "index", "name", "status", "error", "input_text", "canonical_smiles", "inchikey",
            "duplicate_of", "changes", "descriptors", "rules", "alerts", "predictions",
            "depiction_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_depiction_url(self, row: ScreeningResult) -> str | None:
        if not row.canonical_smiles:
            return None
        return f"/api/v1/molecules/jobs/{row.job_id}/results/{row.index}/depiction.svg"


class SearchHitSerializer(serializers.Serializer):
    similarity = serializers.FloatField(allow_null=True)
    result = ScreeningResultSerializer(source="row")
