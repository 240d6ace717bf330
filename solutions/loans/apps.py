"""Registers loan risk scoring with the platform."""

from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "solutions.loans"
    label = "loans"
    verbose_name = "Loan risk scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import reverse

        from solutions import registry
        from solutions.loans import evaluation, pipeline, services, training

        registry.register(
            registry.Solution(
                name="loans",
                title="Loan risk scoring",
                description="Probability of default, score, grade, decision and principal reasons "
                "for consumer loans and credit cards, one application in real time or a portfolio.",
                input_kinds=(".csv", ".json"),
                pipeline=pipeline.run,
                queue="cpu",
                clear_results=services.clear_results,
                api_urls="solutions.loans.api.urls",
                web_urls="solutions.loans.urls",
                template_dir="loans",
                result_url=lambda job: reverse("loans:results", args=[job.pk]),
                train_base=training.train_base,
                evaluate=evaluation.evaluate,
                bench_module="solutions.loans.bench",
                adapters="solutions.loans.adapters",
            )
        )
