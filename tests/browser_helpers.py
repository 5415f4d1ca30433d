"""What the browser tests share: a real ``sme-export serve`` on loopback, headless Chromium
(Playwright with Debian's ``/usr/bin/chromium``), pages that record script errors and CSP
violations, logging in, and screenshots with ``SCREENSHOTS=1``.

The ``browser`` fixture is in ``browser_fixtures`` (``pytest_plugins``). ``assert_accessible``
audits a page with axe-core (``tests/a11y``, installed by ``make test``).
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from web_helpers import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: axe-core as ``tests/a11y/package-lock.json`` pins it (``npm ci --prefix tests/a11y``).
AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
#: The rules of WCAG 2.1 levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
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
        address = _wait_for_address(process)
        # The server logs every request: its output is read on, or a full pipe would stop it.
        threading.Thread(target=collections.deque, args=(process.stdout, 0), daemon=True).start()
        yield address
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


def new_page(browser: Browser, base: str, *, phone: bool = False, touch: bool = False) -> Page:
    """A page in a fresh browser context that records script errors and CSP violations;
    ``touch``: a phone-sized touch screen, as a phone's browser reports itself."""
    size = {"width": 390, "height": 844} if phone or touch else {"width": 1280, "height": 900}
    device = {"is_mobile": True, "has_touch": True, "device_scale_factor": 3} if touch else {}
    context = browser.new_context(base_url=base, viewport=size, accept_downloads=True, **device)
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


def axe_violations(page: Page) -> list[dict]:
    """axe-core's WCAG 2.1 AA violations on the page as it is now.

    axe is evaluated through the DevTools protocol rather than added as a ``<script>``: the
    pages' Content-Security-Policy refuses inline scripts, and the audit must not loosen it.
    """
    if not AXE.exists():
        raise FileNotFoundError(f"{AXE} is missing: `make test` installs it (npm ci)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA
    )
    return results["violations"]


def describe_violations(label: str, url: str, violations: list[dict]) -> str:
    """One line per element that breaks a rule: page, rule id, impact, selector, help."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            target = " ".join(
                " > ".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            lines.append(f"{label} ({url}): {v['id']} [{v['impact']}] {target}: {v['help']}")
    return "\n".join(lines)


def assert_accessible(page: Page, label: str) -> None:
    """No WCAG 2.1 A or AA violation that axe-core finds on the page as it is now."""
    violations = axe_violations(page)
    assert not violations, "\n" + describe_violations(label, page.url, violations)
