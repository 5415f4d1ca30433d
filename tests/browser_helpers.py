"""What the browser tests share: a real ``sme-export serve`` on loopback, headless Chromium
(Playwright with Debian's ``/usr/bin/chromium``), pages that record script errors and CSP
violations, logging in, and screenshots with ``SCREENSHOTS=1``.

The ``browser`` fixture is in ``browser_fixtures`` (``pytest_plugins``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from web_helpers import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def serving(folder: Path, url: str) -> Iterator[str]:
    """``sme-export serve`` on the database at ``url`` on a free loopback port; its base URL.
    Stopped on leaving."""
    env = {**os.environ, "SME_EXPORT_SECRET_KEY": "e2e-test-secret", "PYTHONUNBUFFERED": "1"}
    env.pop("SME_EXPORT_CONFIG", None)
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0", "--database-url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=folder,
    )
    try:
        yield _wait_for_address(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_address(process: subprocess.Popen) -> str:
    """The address the server prints once it listens (it chose a free port)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return match.group(1)
    raise RuntimeError("the server did not start:\n" + "".join(lines))


def new_page(browser: Browser, base: str, *, phone: bool = False) -> Page:
    """A page in a fresh browser context that records script errors and CSP violations."""
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(base_url=base, viewport=size, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and page.console_errors.append(m.text),
    )
    return page


def log_in_page(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form.stacked button[type=submit]")
    expect(page.locator("header.site .user")).to_contain_text(username)


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
