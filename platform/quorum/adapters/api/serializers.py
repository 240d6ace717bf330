"""API representations of datasets, training runs, versions and active adapters."""

from rest_framework import serializers

from quorum.adapters.models import ActiveAdapter, AdapterDataset, AdapterTrainingRun, AdapterVersion


class AdapterDatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdapterDataset
        fields = ["id", "solution", "base_model", "name", "source", "row_count", "report", "holdout_indices",
                  "holdout_seed", "rows_sha256", "created_at"]


class DatasetCreateSerializer(serializers.Serializer):
    solution = serializers.CharField(max_length=64)
    base_model = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(required=False, help_text="Labelled data in the solution's format; "
                                 "leave out to use the tenant's reviewed corrections.")


class AdapterVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdapterVersion
        fields = ["id", "solution", "base_model", "number", "lora_options", "metric_name", "adapter_metrics",
                  "base_metrics", "model_card", "dataset", "imported", "created_at"]


class VersionImportSerializer(serializers.Serializer):
    solution = serializers.CharField(max_length=64)
    base_model = serializers.CharField(max_length=64)
    file = serializers.FileField(help_text="A zip of adapter_config.json and adapter_model.safetensors only.")


class AdapterTrainingRunSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="job.status", read_only=True)
    progress = serializers.IntegerField(source="job.progress", read_only=True)
    progress_message = serializers.CharField(source="job.progress_message", read_only=True)
    error = serializers.CharField(source="job.error", read_only=True)

    class Meta:
        model = AdapterTrainingRun
        fields = ["id", "job", "dataset", "solution", "base_model", "options", "status", "progress",
                  "progress_message", "error", "loss_curve", "version", "created_at"]


class TrainingCreateSerializer(serializers.Serializer):
    dataset = serializers.UUIDField()
    options = serializers.DictField(required=False, default=dict,
                                    help_text="r, lora_alpha, lora_dropout, target_modules, epochs, patience, "
                                    "batch_size, lr (engine defaults when left out).")


class ActiveAdapterSerializer(serializers.ModelSerializer):
    version = AdapterVersionSerializer(read_only=True)

    class Meta:
        model = ActiveAdapter
        fields = ["solution", "version", "updated_at"]


class SolutionSerializer(serializers.Serializer):
    solution = serializers.CharField(max_length=64)
