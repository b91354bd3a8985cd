"""Headless Chromium for the page tests: Debian's chromium and chromedriver, via selenium.

Tests that need it skip with the reason when either is missing (``.ci/run``
installs them). axe-core comes from ``tests/interop`` (``npm ci``), and is
injected into the page under test.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
AXE = Path(__file__).resolve().parents[1] / "interop" / "node_modules" / "axe-core" / "axe.min.js"
T = TypeVar("T")


def require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(
            f"browser tests need Chromium and its driver ({', '.join(missing)} missing): "
            "apt-get install -y chromium chromium-driver"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("browser tests need selenium: pip install -e '.[test]'")


def start_browser(tz: str, *, width: int = 1024, height: int = 900) -> Any:
    """Chromium with the viewer's zone ``tz`` (its process's ``TZ``), in British English
    (24-hour times, as the issue's examples)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--lang=en-GB",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": tz})
    driver = webdriver.Chrome(service=service, options=options)
    # Intl's default locale: --lang does not reach it in headless mode
    driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "en-GB"})
    return driver


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, step: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; its last error or a timeout fails."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            got = check()
            if got:
                return got
        except Exception as err:  # an element replaced while read: look again
            last = err
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s") from last
        time.sleep(step)


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page shown."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE}): npm ci --prefix tests/interop")
    driver.execute_script(AXE.read_text() + "\nreturn true;")
    found: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.map(n => n.html).slice(0, 3)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def color_scheme(driver: Any, scheme: str) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


@contextmanager
def other_origin(html: str, folder: Path) -> Iterator[str]:
    """``html`` served from another origin on loopback (another port), out of ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(html)
    handler = partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
