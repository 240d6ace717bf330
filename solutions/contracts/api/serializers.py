"""How contract jobs, reviews and playbooks read and are written over the API."""

from rest_framework import serializers

from solutions.contracts.models import FindingStatus


class ContractJobCreateSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), min_length=1, max_length=20,
                                  help_text="Contracts as PDF, DOCX, TXT or HTML (multipart, field `files`).")


class ReviewSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FindingStatus.choices, help_text="accepted, rejected (or proposed to undo).")
    category = serializers.CharField(required=False, allow_blank=True,
                                     help_text="A CUAD category to relabel the finding with (accepts it under that category).")


class PlaybookSerializer(serializers.Serializer):
    rules = serializers.JSONField(help_text="List of rules (kinds: clause_required, clause_flagged, "
                                  "notice_period_min_days, governing_law_allowed).")
