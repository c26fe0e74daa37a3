"""Helpers of the browser tests: the seeded server record and a browser tab that watches for errors."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, Response

from voltbill.config import Settings
from voltbill.demo import catalog

CHROMIUM = os.environ.get("VOLTBILL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_RULES = ["wcag2a", "wcag2aa", "best-practice"]

API_KEY = "vb_browser_admin_key_0123456789"


@dataclass(frozen=True)
class SeededServer:
    """The demo operator (small) behind a real server at ``base_url``; ``settings`` point at its database."""

    base_url: str
    settings: Settings


class Browsing:
    """A browser tab that records console errors and uncaught exceptions, and screenshots each page."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def open(self, path: str, *, status: int = 200) -> Response:
        response = self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        assert response is not None, path
        assert response.status == status, f"{path}: HTTP {response.status}"
        return response

    def screenshot(self, name: str) -> Path:
        target = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") + ".png")
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def login(self, email: str, password: str = catalog.DEMO_PASSWORD) -> None:
        self.page.goto(self.base_url + "/login")
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state("networkidle")

    def assert_no_errors(self) -> None:
        assert not self.errors, "\n".join(self.errors)

    def accessibility_problems(self) -> list[str]:
        """What axe-core (WCAG 2 A/AA and best practices) finds on the current page, one line per rule."""
        self.page.evaluate(AXE.read_text())
        violations = self.page.evaluate(
            "async (rules) => (await axe.run(document, {runOnly: rules})).violations"
            ".map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes[0].target.join(' ')}`)",
            AXE_RULES,
        )
        return [str(v) for v in violations]
