"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server.

Screenshots of every visited page land in ``test-artifacts/screenshots/`` (a CI artifact).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; bin/test installs Debian's chromium package")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between page visits are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageVisit:
    """A page plus the console errors and failed requests seen while it was open."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(width: int = 1280, height: int = 900) -> PageVisit:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        return PageVisit(context.new_page())

    yield make
    for context in contexts:
        context.close()
