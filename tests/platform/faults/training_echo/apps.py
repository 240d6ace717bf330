"""A test solution on the `training` queue, so fault tests can see jobs go to the worker
that consumes it (the echo test solution runs on `cpu`)."""

from django.apps import AppConfig


class TrainingEchoConfig(AppConfig):
    name = "tests.platform.faults.training_echo"
    label = "training_echo"

    def ready(self) -> None:
        from solutions import registry
        from tests.platform.faults.training_echo.pipeline import TRAINING_ECHO

        registry.register(TRAINING_ECHO)
