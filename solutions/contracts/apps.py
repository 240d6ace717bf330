"""Registers contract review with the platform."""

from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "solutions.contracts"
    label = "contracts"
    verbose_name = "Contract review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import reverse

        from solutions import registry
        from solutions.contracts import evaluation, pipeline, services, training
        from solutions.contracts.extraction import INPUT_KINDS

        registry.register(
            registry.Solution(
                name="contracts",
                title="Contract review",
                description="Key clauses found, classified and highlighted over the 41 CUAD categories, "
                "key terms extracted and normalised, and risks flagged against your playbook, with review.",
                input_kinds=INPUT_KINDS,
                pipeline=pipeline.run,
                queue="cpu",
                clear_results=services.clear_results,
                api_urls="solutions.contracts.api.urls",
                web_urls="solutions.contracts.urls",
                template_dir="contracts",
                result_url=lambda job: reverse("contracts:results", args=[job.pk]),
                train_base=training.train_base,
                evaluate=evaluation.evaluate,
                bench_module="solutions.contracts.bench",
                adapters="solutions.contracts.adapters",
            )
        )
