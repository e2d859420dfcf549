"""A real headless Chromium for the explorer's tests: Debian's `chromium` driven by playwright
(never a browser playwright downloads), with axe-core injected to check accessibility and a
screenshot written for every page a test looks at, for a person to look at too.

`chromium_path()` is None when the machine has no Chromium (tests then skip, saying so); CI
installs it (`scripts/install.sh --test`), and axe-core from the npm registry
(`scripts/fetch_axe.py`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE_DIRECTORY = ROOT / ".venv" / "share" / "axe-core"
SERIOUS = ("serious", "critical")
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def axe_script() -> Path | None:
    found = sorted(AXE_DIRECTORY.glob("axe-*.min.js"))
    return found[-1] if found else None


@contextmanager
def chromium(*, color_scheme: str = "light", viewport: dict[str, int] = DESKTOP) -> Iterator[Page]:
    """A page of a fresh headless Chromium context, closed after."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no chromium on this machine (apt install chromium)")
    # Chromium's sandbox needs user namespaces it does not get as root in a container.
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=arguments
        )
        try:
            context = browser.new_context(
                viewport=viewport,  # type: ignore[arg-type]
                color_scheme=color_scheme,  # type: ignore[arg-type]
                bypass_csp=False,
            )
            yield context.new_page()
        finally:
            browser.close()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    script = axe_script()
    if script is None:
        raise RuntimeError("no axe-core: run scripts/fetch_axe.py")
    # `evaluate` runs through the DevTools protocol, which the page's CSP does not govern.
    page.evaluate(script.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        """axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page screenshot `directory/NAME.png` of the page as it is now."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
