"""A headless Chromium for the browser tests (``conftest.py``'s ``driver`` fixture: skipped
without Debian's chromium and chromium-driver, failed on CI), waiting for a page, a grid's
rows."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium():
    """A new headless Chromium (the caller quits it)."""
    if not (CHROMIUM.exists() and DRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail("CI is set but /usr/bin/chromium or /usr/bin/chromedriver is missing "
                        "(.ci/run installs Debian's chromium and chromium-driver)")
        pytest.skip("needs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="kd-chromium-")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader",
                "--window-size=1600,1400", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    return drv


def wait(fn, timeout: float = 45.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception:  # the page is still rendering
            value = None
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


ROWS_JS = """
const rows = [...document.querySelectorAll(arguments[0] + ' .ag-center-cols-container .ag-row')];
rows.sort((a, b) => +a.getAttribute('row-index') - +b.getAttribute('row-index'));
return rows.map(r => Object.fromEntries([...r.querySelectorAll('.ag-cell')]
    .map(c => [c.getAttribute('col-id'), c.innerText.trim()])));
"""


def rows(drv, grid: str = "#leaderboard") -> list[dict[str, str]]:
    return drv.execute_script(ROWS_JS, grid)
