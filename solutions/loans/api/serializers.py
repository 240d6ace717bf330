"""How loan results, policies and outcomes read and are written over the API."""

from rest_framework import serializers

from solutions.loans.models import LoanPolicy, ScoredApplication, ScoringModel


class ReasonSerializer(serializers.Serializer):
    feature = serializers.CharField()
    text = serializers.CharField(help_text="Plain adverse-action reason.")
    value = serializers.CharField(help_text="This applicant's value.")
    contribution = serializers.FloatField(help_text="Default log-odds this feature added (integrated gradients).")


class ScoreResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    application_id = serializers.IntegerField(help_text="Id of the stored result row (for outcome uploads).")
    model = serializers.CharField(help_text="The scoring model: german or taiwan.")
    adapter_version = serializers.CharField(allow_null=True, help_text="The tenant adapter version that scored the PD, if any.")
    pd = serializers.FloatField(help_text="Calibrated probability of default.")
    score = serializers.IntegerField()
    grade = serializers.CharField()
    decision = serializers.CharField(help_text="approve, refer or decline.")
    reasons = ReasonSerializer(many=True)
    policy_rules = serializers.ListField(child=serializers.CharField())


class ScoredApplicationSerializer(serializers.ModelSerializer):
    reasons = ReasonSerializer(many=True, read_only=True)
    # Plain strings: the same choice sets as elsewhere would get two enum names in the schema.
    model_name = serializers.CharField(read_only=True, help_text="german or taiwan.")
    status = serializers.CharField(read_only=True, help_text="scored or error.")
    decision = serializers.CharField(read_only=True, help_text="approve, refer or decline; empty for error rows.")

    class Meta:
        model = ScoredApplication
        fields = ["id", "index", "model_name", "input", "status", "errors", "pd", "score", "grade",
                  "decision", "reasons", "policy_rules", "created_at"]
        read_only_fields = fields


class BatchCreateSerializer(serializers.Serializer):
    model = serializers.ChoiceField(choices=ScoringModel.choices, default=ScoringModel.GERMAN)
    applications = serializers.ListField(child=serializers.JSONField(), required=False, max_length=100_000,
                                         help_text="Applications as JSON objects (instead of files).")
    files = serializers.ListField(child=serializers.FileField(), required=False,
                                  help_text="CSV or JSON files of applications (multipart).")

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("applications") and not attrs.get("files"):
            raise serializers.ValidationError({"applications": ["Send a JSON list of applications or upload files."]})
        return attrs


class LoanPolicySerializer(serializers.ModelSerializer):
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = LoanPolicy
        fields = ["approve_max_pd", "decline_min_pd", "min_age", "max_age", "base_score", "base_odds",
                  "pdo", "grade_bands", "updated_at"]
        read_only_fields = ["updated_at"]

    def validate(self, attrs: dict) -> dict:
        from solutions.loans.scoring import PolicySettings

        try:
            PolicySettings(**{**PolicySettings().__dict__, **attrs})
        except (ValueError, TypeError, IndexError) as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        return attrs


class OutcomeSerializer(serializers.Serializer):
    application_id = serializers.IntegerField()
    defaulted = serializers.BooleanField()
