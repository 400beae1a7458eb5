"""Browser tests: `fusionflow serve --ui` as a real process, driven by Playwright in
Debian's Chromium (never a downloaded browser). Screenshots go to tests/e2e/screenshots/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, require, wait_for_port

SCREENSHOTS = Path(__file__).with_name("screenshots")
ADMIN_PASSWORD = "admin-password"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class Site:
    api: str
    ui: str
    allowed: Path
    data_dir: Path  # the server's: where the uploads' names point


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The API and the UI, on the embedded defaults, with a server folder of logs."""
    root = tmp_path_factory.mktemp("site")
    allowed = root / "allowed"
    allowed.mkdir()
    api_port, ui_port = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "FUSIONFLOW_DATA_DIR": str(root / "data"),
        "FUSIONFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "FUSIONFLOW_ALLOWED_ROOTS": str(allowed),
    }
    fusionflow = Path(sys.executable).with_name("fusionflow")
    with (root / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [fusionflow, "serve", "--port", str(api_port), "--ui", "--ui-port", str(ui_port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(api_port, process=server, timeout=60)
        wait_for_port(ui_port, process=server, timeout=60)
        yield Site(
            f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}", allowed, root / "data"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require("chromium", shutil.which("chromium"), "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)  # two cores shared with the server: be patient
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    """Keep a screenshot for a person to look at (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
