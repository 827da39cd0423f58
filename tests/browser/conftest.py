"""Browser fixtures: the app served from a thread, Debian's Chromium driven by Playwright,
and a CDP virtual authenticator (WebAuthn with user verification) per page.

Without Chromium these tests skip loudly; with REQUIRE_BROWSER=1 a skip is a failure.
"""
import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("KENSHIN_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(f"REQUIRE_BROWSER=1 but {message}")
        pytest.skip(f"!!! browser tests SKIPPED: {message} !!!")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
        yield instance
        instance.close()


def _read_whole(app):
    """The app with each response body read whole and closed before the server writes it.

    werkzeug's development server closes the body only after reading what is left of the
    request; when the browser has gone on meanwhile (a page that navigates while a script is
    still downloading), that read raises and the body is never closed: the open static file is
    left to the garbage collector, a ResourceWarning that this suite's warning filters make an
    error in whichever test is running. gunicorn (deploy/) closes it either way."""
    def served(environ, start_response):
        body = app(environ, start_response)
        try:
            return list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
    return served


@pytest.fixture
def live_server(app):
    """The app on http://localhost:PORT in a background thread; ORIGIN follows the port."""
    server = make_server("localhost", 0, _read_whole(app), threaded=True)
    port = server.socket.getsockname()[1]
    app.config["ORIGIN"] = f"http://localhost:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["ORIGIN"]
    server.shutdown()
    thread.join(timeout=5)


class VirtualAuthenticator:
    """A CDP virtual platform authenticator with user verification, attached to one page."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        result = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}})
        self.id = result["authenticatorId"]

    def set_user_verified(self, verified: bool):
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id,
                                                   "isUserVerified": verified})

    def credentials(self):
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
    context.set_default_timeout(15000)
    tab = context.new_page()
    tab.authenticator = VirtualAuthenticator(tab)
    yield tab
    context.close()


@pytest.fixture
def new_page(browser, live_server):
    """Extra pages in their own contexts (a second clerk), each with its own authenticator."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo")
        context.set_default_timeout(15000)
        contexts.append(context)
        tab = context.new_page()
        tab.authenticator = VirtualAuthenticator(tab)
        return tab
    yield make
    for context in contexts:
        context.close()
