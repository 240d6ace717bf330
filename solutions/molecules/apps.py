"""Registers molecule screening with the platform."""

from django.apps import AppConfig


class MoleculesConfig(AppConfig):
    name = "solutions.molecules"
    label = "molecules"
    verbose_name = "Molecule screening"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import reverse

        from solutions import registry
        from solutions.molecules import evaluation, pipeline, training
        from solutions.molecules.parsing import FORMAT_BY_SUFFIX

        registry.register(
            registry.Solution(
                name="molecules",
                title="Molecule screening",
                description="Standardise a compound library, flag structural alerts and "
                "drug-likeness rules, and rank it by predicted solubility, lipophilicity, "
                "blood-brain barrier penetration and Tox21 toxicity.",
                input_kinds=tuple(FORMAT_BY_SUFFIX),
                pipeline=pipeline.run,
                queue="cpu",
                clear_results=pipeline.clear_results,
                api_urls="solutions.molecules.api.urls",
                web_urls="solutions.molecules.urls",
                template_dir="molecules",
                result_url=lambda job: reverse("molecules:results", args=[job.pk]),
                train_base=training.train_base,
                evaluate=evaluation.evaluate,
                bench_module="solutions.molecules.bench",
                adapters="solutions.molecules.adapters",
            )
        )
