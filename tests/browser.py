"""Drive Debian's chromium through its chromedriver for the admin's browser tests.

Install both with ``apt-get install chromium chromium-driver``; .ci/run does
this when they are missing. The driver path is given explicitly, so Selenium
Manager never runs and nothing is downloaded. Chromium resolves no host
name but localhost and has its background requests switched off, so the
tests reach only the live server on loopback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW_SIZE = (1280, 900)

#: Seconds to wait for a page, an element or a text. It only bounds the waiting: no test measures speed.
WAIT_TIMEOUT = 20.0

#: Where the screenshots in docs/ come from; written only when ACTIVEJOB_SCREENSHOTS=1.
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "docs" / "images"

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    # The tests talk to the live server on loopback and nothing else: no
    # host name but localhost resolves, and chromium's background requests
    # (component updates, sync, domain reliability reports, pings) are off.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
]


def missing_browser() -> str | None:
    """Return why the browser tests can't run here, or None when they can."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (
            f"{' and '.join(missing)} not found: install Debian's browser with "
            f"'apt-get install chromium chromium-driver' to run the browser tests."
        )
    return None


def start_chromium() -> WebDriver:
    """Start headless chromium through /usr/bin/chromedriver, with a fixed window size."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    service = Service(str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_window_size(*WINDOW_SIZE)
    return driver


def screenshots_enabled() -> bool:
    return os.environ.get("ACTIVEJOB_SCREENSHOTS") == "1"


#: Chromium's message when an element was read while a navigation replaced the
#: document; unlike a stale element it arrives as a plain WebDriverException.
DETACHED_NODE = "does not belong to the document"


def _tolerate_detached_nodes(condition: Callable[[WebDriver], object]) -> Callable[[WebDriver], object]:
    """Return ``condition``, returning False instead of raising when it read a node of a replaced page."""

    def checked(driver: WebDriver) -> object:
        try:
            return condition(driver)
        except WebDriverException as exc:
            if DETACHED_NODE not in str(exc):
                raise
            return False

    return checked


class AdminBrowser:
    """A chromium window on the live server, with the steps an admin user takes."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def log_in(self, username: str, password: str, next_path: str) -> None:
        """Fill in the admin login form, submit it and wait for ``next_path`` to load."""
        self.open(f"/admin/login/?next={next_path}")
        self.find("#id_username").send_keys(username)
        self.find("#id_password").send_keys(password)
        self.find("#login-form [type=submit]").click()
        self.wait_until(lambda driver: "/admin/login/" not in driver.current_url, f"the login of {username}")
        self.wait_until(lambda driver: driver.current_url.startswith(self.base_url + next_path.split("?")[0]),
                        f"{next_path} after the login")

    def find(self, selector: str) -> WebElement:
        """Wait for the element that ``selector`` (CSS) matches and return it."""
        return self.wait_until(lambda driver: driver.find_element(By.CSS_SELECTOR, selector),
                               f"an element matching {selector!r}")

    def find_all(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector: str) -> str:
        """Return the visible text of the element that ``selector`` matches.

        The element is looked up again when the page replaced it between
        the lookup and the read, as the dashboard's refresh does.
        """
        return self.wait_until(lambda driver: (driver.find_element(By.CSS_SELECTOR, selector).text,),
                               f"the text of {selector!r}")[0]

    def attributes(self, selector: str, name: str) -> list[str | None]:
        """Return attribute ``name`` of every element that ``selector`` matches, read in one script run."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.getAttribute(arguments[1]));",
            selector, name,
        )

    def click(self, selector: str) -> None:
        """Click the element that ``selector`` matches, looking it up again if the page replaced it."""

        def clicked(driver: WebDriver) -> bool:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return True

        self.wait_until(clicked, f"a click on {selector!r}")

    def find_by_xpath(self, xpath: str) -> WebElement:
        return self.wait_until(lambda driver: driver.find_element(By.XPATH, xpath), f"an element at {xpath!r}")

    def wait_until(self, condition: Callable[[WebDriver], object], description: str,
                   timeout: float = WAIT_TIMEOUT):
        """Return ``condition``'s first true result; fail naming ``description`` after ``timeout`` s."""
        # The dashboard's script replaces its elements while a condition reads them.
        wait = WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=[NoSuchElementException, StaleElementReferenceException])
        return wait.until(_tolerate_detached_nodes(condition),
                          f"Timed out after {timeout} s waiting for {description}.")

    def wait_for_text(self, selector: str, text: str, timeout: float = WAIT_TIMEOUT) -> WebElement:
        """Wait until the element that ``selector`` matches contains ``text``, and return it."""

        def element_with_text(driver: WebDriver) -> WebElement | bool:
            for element in driver.find_elements(By.CSS_SELECTOR, selector):
                if text in element.text:
                    return element
            return False

        return self.wait_until(element_with_text, f"{text!r} in {selector!r}", timeout)

    def choose_action(self, label: str) -> None:
        """Pick the change list action shown as ``label`` and submit it (the Go button; Run in Django 6)."""
        Select(self.find("select[name=action]")).select_by_visible_text(label)
        self.find("#changelist-form button[name=index]").click()

    def hide_navigation(self) -> None:
        """Collapse the admin's app list on the left, as the « button does, to give the page more width."""
        toggle = self.find("#toggle-nav-sidebar")
        if self.find("#nav-sidebar").is_displayed():
            toggle.click()
            self.wait_until(lambda driver: not driver.find_element(By.ID, "nav-sidebar").is_displayed(),
                            "the navigation sidebar to collapse")

    def screenshot(self, name: str, width: int = WINDOW_SIZE[0], full_page: bool = False) -> Path | None:
        """Save the page as docs/images/``name`` when ACTIVEJOB_SCREENSHOTS=1, and return the path.

        ``width`` widens the window for this picture only, so a wide table
        shows all its columns; ``full_page`` makes the window as tall as the
        page. The window gets its fixed size back afterwards. Returns None
        when screenshots are off.
        """
        if not screenshots_enabled():
            return None
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / name
        try:
            self._resize(width, WINDOW_SIZE[1])
            if full_page:
                # The window's size includes chromium's frame; the page gets the rest.
                frame = WINDOW_SIZE[1] - self.driver.execute_script("return window.innerHeight;")
                page = self.driver.execute_script("return document.documentElement.scrollHeight;")
                self._resize(width, page + frame)
            if not self.driver.save_screenshot(str(path)):
                raise AssertionError(f"chromium did not save the screenshot {path}.")
        finally:
            self._resize(*WINDOW_SIZE)
        return path

    def _resize(self, width: int, height: int) -> None:
        self.driver.set_window_size(width, height)
        self.wait_until(lambda driver: driver.execute_script("return window.outerWidth;") == width,
                        f"the window to become {width} pixels wide")
