"""The echo test solution: registers "echo" so the job machinery can be tested end to end."""

from django.apps import AppConfig


class EchoSolutionConfig(AppConfig):
    name = "tests.platform.jobs.echo_solution"
    label = "echo_solution"
    verbose_name = "Echo (test solution)"

    def ready(self) -> None:
        from solutions.registry import Solution, register
        from tests.platform.jobs.echo_solution.pipeline import clear_results, echo_pipeline

        register(
            Solution(
                name="echo",
                title="Echo",
                description="Copies each line of a text file into result rows, slowly on request.",
                input_kinds=(".txt",),
                pipeline=echo_pipeline,
                queue="cpu",
                clear_results=clear_results,
                result_url=lambda job: f"/echo/{job.pk}/",
            )
        )
