"""Registers defect inspection with the platform."""

from django.apps import AppConfig


class DefectsConfig(AppConfig):
    name = "solutions.defects"
    label = "defects"
    verbose_name = "Defect inspection"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import reverse

        from solutions import registry
        from solutions.defects import evaluation, pipeline, training
        from solutions.defects.imaging import IMAGE_SUFFIXES, MEDIA_TYPES, ZIP_SUFFIXES

        registry.register(
            registry.Solution(
                name="defects",
                title="Defect inspection",
                description="Pass/fail decisions for images of parts with the defect class, a heat "
                "map and boxes showing where the defect is, and thresholds set for a target "
                "false-reject rate.",
                input_kinds=(*IMAGE_SUFFIXES, *ZIP_SUFFIXES, *MEDIA_TYPES),
                pipeline=pipeline.run,
                queue="cpu",
                clear_results=pipeline.clear_results,
                api_urls="solutions.defects.api.urls",
                web_urls="solutions.defects.urls",
                template_dir="defects",
                result_url=lambda job: reverse("defects:results", args=[job.pk]),
                train_base=training.train_base,
                evaluate=evaluation.evaluate,
                bench_module="solutions.defects.bench",
                adapters="solutions.defects.adapters",
            )
        )
