"""Serializers of the defect inspection API."""

from rest_framework import serializers

from solutions.defects.datasets import CLASSES
from solutions.defects.models import Decision, InspectionResult, ReviewItem


class InspectionJobCreateSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(), allow_empty=False,
        help_text="Images (PNG, JPEG, BMP, TIFF) and/or ZIP archives of images.",
    )


class ReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReviewItem
        fields = ["status", "decision", "defect_class", "note", "reviewed_at"]


class InspectionResultSerializer(serializers.ModelSerializer):
    overlay_url = serializers.SerializerMethodField()
    review = ReviewSerializer(read_only=True, allow_null=True)

    class Meta:
        model = InspectionResult
        fields = [
            "index", "filename", "status", "error", "width", "height", "decision", "defect_class",
            "top_class", "defect_score", "threshold", "class_probs", "boxes", "overlay_url", "review",
        ]

    def get_overlay_url(self, row: InspectionResult) -> str | None:
        if row.status != InspectionResult.Status.OK:
            return None
        return f"/api/v1/defects/jobs/{row.job_id}/results/{row.index}/overlay.png"


class ReviewCreateSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[Decision.PASS, Decision.FAIL])
    defect_class = serializers.ChoiceField(choices=list(CLASSES), required=False, default="free")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def validate(self, data: dict) -> dict:
        if data["decision"] == Decision.FAIL and data["defect_class"] == "free":
            raise serializers.ValidationError({"defect_class": "A failed part needs its defect class."})
        return data
