"""`manage.py evaluate <solution> --data PATH`: test-split metrics beside the classical baselines."""

from quorum.jobs.management.commands._solution_command import SolutionDataCommand


class Command(SolutionDataCommand):
    help = "Evaluate a solution's base models on the test splits, baselines in the same run."
    hook_name = "evaluate"

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        super().add_arguments(parser)
        parser.add_argument("--report", default=None, help="markdown output (default docs/evaluation/<solution>.md)")

    def handle(self, *args: object, **options: object) -> None:
        from django.conf import settings

        solution, data, models = self.resolve(options)
        markdown = solution.evaluate(data, models, self.stdout.write)
        report = options["report"] or settings.BASE_DIR / "docs" / "evaluation" / f"{solution.name}.md"
        from pathlib import Path

        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(markdown)
        self.stdout.write(markdown)
        self.stdout.write(self.style.SUCCESS(f"report written to {report}"))
