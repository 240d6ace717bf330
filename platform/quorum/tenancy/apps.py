from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "quorum.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"
