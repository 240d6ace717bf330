"""Shared argument handling of `train_base` and `evaluate`: a solution name and a data path."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from solutions import registry


class SolutionDataCommand(BaseCommand):
    hook_name = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("solution", help="registered solution name, e.g. molecules")
        parser.add_argument(
            "--data", type=Path, default=None,
            help="split files folder (default: ../shared/data/<solution> beside the repository)",
        )
        parser.add_argument(
            "--models", type=Path, default=None,
            help="base checkpoints folder (default: settings.QUORUM_MODELS_DIR/<solution>)",
        )

    def resolve(self, options: dict) -> tuple[registry.Solution, Path, Path]:
        try:
            solution = registry.get(options["solution"])
        except LookupError as exc:
            names = ", ".join(s.name for s in registry.all_solutions())
            raise CommandError(f"{exc}; registered: {names}") from None
        hook = getattr(solution, self.hook_name)
        if hook is None:
            raise CommandError(f"solution {solution.name!r} has no {self.hook_name} command")
        data = options["data"] or settings.BASE_DIR.parent / "shared" / "data" / solution.name
        if not data.is_dir():
            raise CommandError(f"data folder {data} does not exist (pass --data PATH)")
        models = options["models"] or settings.QUORUM_MODELS_DIR / solution.name
        return solution, data.resolve(), models.resolve()
