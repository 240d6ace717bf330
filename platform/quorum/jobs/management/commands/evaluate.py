"""`manage.py evaluate <solution> --data PATH`: test-split metrics beside the classical baselines."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandParser

from quorum.jobs.management.commands._solution_command import SolutionDataCommand


class Command(SolutionDataCommand):
    help = "Evaluate a solution's base models on the test splits, baselines in the same run."
    hook_name = "evaluate"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--report", type=Path, default=None,
            help="markdown report (default docs/evaluation/<solution>.md)",
        )

    def handle(self, *args: object, **options: object) -> None:
        solution, data, models = self.resolve(options)
        markdown = solution.evaluate(data, models, self.stdout.write)
        report = options["report"] or settings.BASE_DIR / "docs" / "evaluation" / f"{solution.name}.md"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(markdown)
        self.stdout.write(markdown)
        self.stdout.write(self.style.SUCCESS(f"report written to {report}"))
