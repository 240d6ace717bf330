"""Browser fixtures: Debian's Chromium driven by Playwright against a live server, with a real
Celery worker behind it. Screenshots of every step go to var/e2e/screenshots/<test>/ (or
$QUORUM_E2E_SCREENSHOTS)."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorum.tenancy.models import Role
from tests.fixtures.tenants import make_member

CHROMIUM = Path(os.environ.get("QUORUM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


# Package scope: the browser and the variable end with this folder's tests, so nothing after
# them (a `check --deploy` subprocess, say) inherits DJANGO_ALLOW_ASYNC_UNSAFE.
@pytest.fixture(scope="package")
def _orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test and
    # of the fixtures are still synchronous, so Django's guard against ORM calls from async
    # code does not apply while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(_orm_beside_playwright: None) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Steps:
    """Numbered screenshots of one test's steps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, page: object, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Steps:
    root = Path(os.environ.get("QUORUM_E2E_SCREENSHOTS", REPO_ROOT / "var" / "e2e" / "screenshots"))
    return Steps(root / request.node.name)


@pytest.fixture
def signed_in(browser, live_server):
    """A factory: a new browser page signed in, through the login form, as a new member."""
    contexts = []

    def sign_in(tenant, email: str, role: str, steps: Steps):
        user = make_member(tenant, email, role)
        user.set_password(PASSWORD)
        user.save()
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", PASSWORD)
        steps.shot(page, f"login {role}")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/$"))
        return page

    yield sign_in
    for context in contexts:
        context.close()


__all__ = ["Role", "Steps"]
