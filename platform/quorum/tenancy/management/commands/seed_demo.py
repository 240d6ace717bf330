"""`manage.py seed_demo`: the demo tenant with an analyst and a tenant admin; safe to run again."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from quorum.env import env_secret
from quorum.tenancy import services
from quorum.tenancy.models import Role, Tenant

DEMO_TENANT_NAME = "Demo Lab"
DEMO_TENANT_SLUG = "demo"
DEMO_USERS = (("analyst@demo.example", Role.ANALYST), ("admin@demo.example", Role.ADMIN))
DEFAULT_DEMO_PASSWORD = "quorum-demo"


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant and its two users, and print how to log in."

    def handle(self, *args: Any, **options: Any) -> None:
        password = env_secret("QUORUM_DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first()
            if tenant is None:
                tenant = services.create_tenant(name=DEMO_TENANT_NAME, slug=DEMO_TENANT_SLUG)
            for email, role in DEMO_USERS:
                user = self.ensure_user(email, password)
                services.add_member(tenant=tenant, user=user, role=role)
        self.stdout.write(f"Demo tenant: {tenant.name} ({tenant.slug})")
        for email, role in DEMO_USERS:
            self.stdout.write(f"  {Role(role).label:<13} {email} / {password}")

    def ensure_user(self, email: str, password: str) -> Any:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=email, defaults={"email": email})
        # A rerun keeps the data but makes the printed password true again.
        if created or not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        return user
