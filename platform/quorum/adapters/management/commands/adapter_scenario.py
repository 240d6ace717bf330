"""`manage.py adapter_scenario <solution> --data PATH`: the realistic tenant adapter scenario.

Builds (or reuses) a scenario tenant, or takes an existing one (``--tenant demo``), whose data
is one segment of the shipped data, labelled by the tenant's own standard where the scenario has
one (the solution's ``scenario`` hook picks both), uploads it as a dataset, runs the adapter
training job in this process, activates the adapter, and prints the adapter's and the base
model's metrics on that tenant's fixed holdout as a markdown table for
docs/evaluation/adapters.md.
"""

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from quorum.adapters import services
from quorum.adapters.models import AdapterTrainingRun
from quorum.jobs.models import Job
from quorum.tenancy import services as tenancy_services
from quorum.tenancy.models import Role, Tenant
from quorum.tenancy.scoping import tenant_scope


class Command(BaseCommand):
    help = "Train a tenant adapter on a scenario tenant's data and compare it with the base model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("solution")
        parser.add_argument("--data", type=Path, help="shipped data folder (default ../shared/data/<solution>)")
        parser.add_argument("--epochs", type=int, default=services.DEFAULT_TRAINING["epochs"])
        parser.add_argument("--lr", type=float, default=services.DEFAULT_TRAINING["lr"])
        parser.add_argument("--batch-size", type=int, default=services.DEFAULT_TRAINING["batch_size"])
        parser.add_argument("--r", type=int, default=16, help="LoRA rank")
        parser.add_argument("--targets", default="q_proj,v_proj", help="attention projections the adapter adapts")
        parser.add_argument("--segment", help="the solution's scenario segment (its default when left out)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the tenant holdout split")
        parser.add_argument("--tenant", help="an existing tenant's slug (e.g. demo, to see the run at /adapters/ "
                                             "as its admin); default: a scenario tenant of its own")

    def handle(self, *args: Any, **options: Any) -> None:
        from quorum.celery import app

        solution = options["solution"]
        try:
            hooks = services.hooks_for(solution)
        except services.AdapterRefused as exc:
            raise CommandError(str(exc)) from None
        if not hasattr(hooks, "scenario"):
            raise CommandError(f"{solution} has no adapter scenario hook")
        data_dir = options["data"] or Path(settings.BASE_DIR).parent / "shared" / "data" / solution
        if not data_dir.is_dir():
            raise CommandError(f"no data folder {data_dir}; pass --data PATH")
        tenant, admin = self._existing_tenant(options["tenant"]) if options["tenant"] else self._scenario_tenant(solution)
        scenario = hooks.scenario(data_dir, **({"segment": options["segment"]} if options["segment"] else {}))
        dataset = services.create_dataset(
            tenant=tenant, user=admin, solution=solution, base_model=scenario["base_model"], name=scenario["name"],
            filename=scenario["filename"], data=scenario["data"], holdout_seed=options["seed"],
        )
        self.stdout.write(f"dataset: {dataset.row_count} rows accepted, {dataset.report['rejected']} rejected, "
                          f"holdout {len(dataset.holdout_indices)}")
        # The training job runs here, through the normal job machinery, instead of on a worker.
        eager, app.conf.task_always_eager = app.conf.task_always_eager, True
        started = time.monotonic()
        try:
            run = services.start_training(tenant=tenant, user=admin, dataset=dataset, options={
                "epochs": options["epochs"], "lr": options["lr"], "batch_size": options["batch_size"],
                "r": options["r"], "lora_alpha": 2 * options["r"], "target_modules": options["targets"].split(","),
            })
        finally:
            app.conf.task_always_eager = eager
        job = Job.objects.all_tenants().get(pk=run.job_id)
        if job.status != "succeeded":
            raise CommandError(f"training ended {job.status}: {job.error}")
        with tenant_scope(tenant):
            version = AdapterTrainingRun.objects.select_related("version").get(pk=run.pk).version
        services.activate(tenant=tenant, user=admin, version=version)
        metric = version.metric_name
        seconds = time.monotonic() - started
        self.stdout.write(
            f"\n## {solution}: {scenario['name']}\n\n{scenario['description']}\n\n"
            f"Base model `{scenario['base_model']}`; dataset {dataset.row_count} rows, tenant holdout "
            f"{version.adapter_metrics['holdout']} rows (fixed seed {dataset.holdout_seed}); adapter trained on "
            f"{version.adapter_metrics['train']} rows, early stopping on {version.adapter_metrics['valid']}; "
            f"{seconds:.0f} s on this machine's CPU.\n\n"
            f"| Model | Holdout {metric} |\n|---|---|\n"
            f"| Base model | {version.base_metrics[metric]:.4f} |\n"
            f"| Tenant adapter v{version.number} (LoRA r={version.lora_options['r']}) | "
            f"{version.adapter_metrics[metric]:.4f} |\n"
        )

    def _existing_tenant(self, slug: str) -> tuple[Tenant, Any]:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"no tenant {slug!r}")
        membership = tenant.memberships.filter(role=Role.ADMIN).select_related("user").order_by("created_at").first()
        if membership is None:
            raise CommandError(f"tenant {slug!r} has no admin to train the adapter as")
        return tenant, membership.user

    def _scenario_tenant(self, solution: str) -> tuple[Tenant, Any]:
        slug = f"scenario-{solution}"
        tenant = Tenant.objects.filter(slug=slug).first() or tenancy_services.create_tenant(
            name=f"Adapter scenario ({solution})", slug=slug
        )
        admin, _ = get_user_model().objects.get_or_create(username=f"{slug}@quorum.local",
                                                         defaults={"email": f"{slug}@quorum.local"})
        tenancy_services.add_member(tenant=tenant, user=admin, role=Role.ADMIN)
        return tenant, admin
