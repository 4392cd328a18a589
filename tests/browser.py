"""Headless Chromium for page tests: Debian's ``chromium`` and ``chromium-driver``
(``scripts/install_chromium.sh``) driven by Selenium, with the console and every request recorded.

Usage::

    with headless_chromium(width=1280) as page:
        page.open(url)
        page.hover("#plot-timeline .point")      # the hover label's text
        page.requests()                          # every URL the page asked for
        page.console_errors()                    # SEVERE console messages
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_chromium.sh"


class Page:
    """One browser tab."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._requests: list[str] = []

    def open(self, url: str, ready: str = "return document.readyState === 'complete'", timeout: float = 30) -> None:
        self.driver.get(url)
        self.wait_for(ready, timeout)

    def wait_for(self, script: str, timeout: float = 30) -> Any:
        """Run ``script`` until it returns something truthy; return that (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.driver.execute_script(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for: {script}")
            time.sleep(0.2)

    def js(self, script: str) -> Any:
        return self.driver.execute_script(script)

    def text(self) -> str:
        return str(self.js("return document.body.innerText"))

    def hover(self, selector: str, timeout: float = 10) -> str:
        """Move the mouse over the first element ``selector`` finds; the hover label's text."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.CSS_SELECTOR, selector)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        ActionChains(self.driver).move_to_element(element).perform()
        return str(
            self.wait_for(
                "const t = document.querySelector('.hoverlayer .hovertext'); return t && t.textContent", timeout
            )
        )

    def requests(self) -> list[str]:
        """Every URL the browser asked for since the tab opened (from its performance log)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self._requests.append(message["params"]["request"]["url"])
        return list(self._requests)

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def screenshot(self, path: Path, height: int | None = None) -> None:
        """A PNG of the page, ``height`` pixels tall (default: the whole page)."""
        width = self.js("return window.innerWidth")
        full = height or self.js("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, full)
        time.sleep(0.5)  # plotly redraws on resize
        self.driver.save_screenshot(str(path))


def binaries() -> tuple[str, str]:
    """Chromium and its driver; AssertionError naming the install script when missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise AssertionError(
            f"chromium and chromedriver are needed: run `bash {INSTALL_SCRIPT.relative_to(REPO_ROOT)}`"
        )
    return browser, driver


@contextlib.contextmanager
def headless_chromium(width: int = 1280, height: int = 900) -> Iterator[Page]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield Page(driver)
    finally:
        driver.quit()
