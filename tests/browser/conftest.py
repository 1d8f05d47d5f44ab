"""Shared fixtures for tests that drive Debian's Chromium through Playwright.

Never `playwright install`: it downloads a browser and fails here (FIELD-NOTES "Browser
tests"). Tests using these fixtures skip cleanly where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Gitignored; the README names it. Screenshots are for people to look at, not to compare.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) is not installed"
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    # Playwright's event loop runs in this thread next to the ORM (FIELD-NOTES).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Callable[..., Any]]:
    """`open_page(viewport, **context options)` → a page whose `console_errors` list
    records every console error (a CSP violation is one). Contexts close after the test."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int], **options: Any) -> Any:
        context = chromium.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []

        def record(message: Any) -> None:
            if message.type == "error":
                page.console_errors.append(message.text)

        page.on("console", record)
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(
    page: Any, base: str, email: str, password: str = PASSWORD, next_url: str = "/"
) -> None:
    """Sign in through the real form, then land on `next_url`."""
    page.goto(f"{base}/sign-in/?next={next_url}")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{next_url}")


# The outermost elements that stick out past the right edge of the screen: what to fix.
OVERFLOWING = """(width) => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const right = el.getBoundingClientRect().right + window.scrollX;
    const parent = el.parentElement.getBoundingClientRect().right + window.scrollX;
    if (right > width + 1 && parent <= width + 1) {
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (el.className && el.className.baseVal === undefined ? '.' + el.className.split(' ').join('.') : '') +
        ' (' + Math.round(right) + 'px)');
    }
  }
  return out.slice(0, 8);
}"""


def overflowing(page: Any, width: int) -> list[str]:
    return list(page.evaluate(OVERFLOWING, width))


def assert_fits(page: Any, width: int) -> None:
    """Nothing makes the page scroll sideways (wide charts scroll inside their own box)."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, (
        f"the page scrolls sideways ({scroll}px on a {width}px screen): {overflowing(page, width)}"
    )
