"""Registers tenant adapters: the ``adapter-training`` job kind, the job adapter hook and the
engine's process-wide adapter resolver."""

from django.apps import AppConfig


class AdaptersConfig(AppConfig):
    name = "quorum.adapters"
    label = "adapters"
    verbose_name = "Tenant adapters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from engine.serving import set_adapter_resolver
        from quorum.adapters import services, storage, training
        from quorum.jobs.models import Job
        from solutions import registry

        registry.register(
            registry.Solution(
                name=services.TRAINING_KIND,
                title="Adapter training",
                description="Trains a tenant's LoRA adapter for a solution on its own data.",
                input_kinds=(),
                pipeline=training.run,
                queue="training",
                clear_results=training.clear_results,
                listed=False,
            )
        )

        def set_job_adapter(sender: type, instance: Job, **kwargs: object) -> None:
            services.record_job_adapter(instance)

        pre_save.connect(set_job_adapter, sender=Job, weak=False, dispatch_uid="adapters-job-version")
        # Engine servers that a solution creates without a resolver fetch versions from storage.
        set_adapter_resolver(storage.resolve_adapter)
