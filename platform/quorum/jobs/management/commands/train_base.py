"""`manage.py train_base <solution> --data PATH`: train a solution's shipped base checkpoints."""

from quorum.jobs.management.commands._solution_command import SolutionDataCommand


class Command(SolutionDataCommand):
    help = "Train a solution's base models from the split files and write them under models/."
    hook_name = "train_base"

    def handle(self, *args: object, **options: object) -> None:
        solution, data, models = self.resolve(options)
        models.mkdir(parents=True, exist_ok=True)
        solution.train_base(data, models, self.stdout.write)
        self.stdout.write(self.style.SUCCESS(f"{solution.name}: base models written to {models}"))
