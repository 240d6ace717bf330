from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "quorum.web"
    label = "web"
    verbose_name = "Browser pages"
