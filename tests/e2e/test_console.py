"""The caseworker console in a real browser (Debian's Chromium, driven by Playwright)
against the running stack: a case opened through the bot is claimed, answered with a
canned reply that reaches the person's chat, noted, and closed, and the bot answers the
person again. Also: nothing without logging in, another team's case stays hidden, a
post without the CSRF token is refused even when the browser sends the cookie.

Screenshots of the queue and the conversation go to results/screenshots/ (not in git).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from amparo.cases import CaseStore, Conflict
from amparo.responses import responses
from tests.e2e.conftest import PASSWORD, ROOT

CHROMIUM = Path(os.environ.get("AMPARO_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "results" / "screenshots"
# Headless, and quiet on a machine without the internet (no update or sync calls).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 15_000
LOGIN = re.compile(r"/login(#.*)?$")  # a link to a case keeps its #/cases/N


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        why = (
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium where "
            "it may (scripts/install-package), or set AMPARO_CHROMIUM"
        )
        if os.environ.get("AMPARO_REQUIRE_BROWSER"):
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


def account(store: CaseStore, username: str, teams: list[str]) -> str:
    with contextlib.suppress(Conflict):  # made by an earlier test of this session
        store.create_caseworker(username=username, password=PASSWORD, teams=teams)
    return username


def log_in(page, desk: str, username: str) -> None:
    page.goto(desk + "/")
    page.wait_for_url(LOGIN)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")  # the keyboard is enough
    page.wait_for_url(desk + "/")


def open_case_through_the_bot(chat, language: str = "es") -> tuple[str, int]:
    sender = uuid.uuid4().hex
    disclosure, yes = {
        "es": ("mi pareja me pega y tengo miedo", "si por favor"),
        "en": ("my husband beats me and i am scared", "yes please"),
    }[language]
    chat.say(sender, disclosure)
    chat.say(sender, yes)
    case = chat.desk.store.open_case_of(sender)
    assert case is not None
    return sender, case.id


def test_a_case_from_the_queue_to_closed_in_the_browser(chat, page):
    desk = chat.desk.base
    sender, case_id = open_case_through_the_bot(chat, "es")
    log_in(page, desk, "ana")

    # The queue: the case is there, with what a caseworker decides by.
    row = page.locator(f'#queue tr[data-case-id="{case_id}"]')
    row.wait_for()
    for shown in ("high", "violence", "spanish (es)", "webchat", "gbv", "queued"):
        assert shown in row.inner_text().lower(), shown
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "queue.png", full_page=True)

    # A case opened while the queue is on screen appears without a reload.
    _, later_id = open_case_through_the_bot(chat, "en")
    page.locator(f'#queue tr[data-case-id="{later_id}"]').wait_for()

    row.locator("button.claim").click()
    page.wait_for_url(f"**#/cases/{case_id}")
    messages = page.locator("#messages")
    messages.get_by_text("mi pareja me pega y tengo miedo").wait_for()
    assert chat.wait_for_team(sender) == [
        responses().text("utter_caseworker_joined", "es")
    ]

    # A canned reply in the person's language, edited, sent: it reaches their chat.
    canned = page.locator("#template option").nth(1)
    assert canned.get_attribute("value")
    page.select_option("#template", index=1)
    assert page.input_value("#reply").strip()
    page.fill("#reply", page.input_value("#reply") + " Estoy aquí.")
    sent = page.input_value("#reply")
    page.click("#send")
    assert chat.wait_for_team(sender) == [sent]
    outgoing = messages.locator("li.from-caseworker").last
    outgoing.get_by_text("delivered").wait_for()

    # What the person writes now shows up live.
    assert chat.say_maybe(sender, "estoy en la terminal de buses") == []
    messages.get_by_text("estoy en la terminal de buses").wait_for()

    page.fill("#note", "Pide no llamar: su pareja revisa el teléfono.")
    page.click("#add-note")
    page.locator("#notes").get_by_text("su pareja revisa el teléfono").wait_for()
    page.screenshot(path=SHOTS / "conversation.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.select_option("#outcome", "support_given")
    page.click("#close")
    page.locator("#reopen").wait_for()
    assert chat.wait_for_team(sender) == [
        responses().text("utter_handoff_closed", "es")
    ]
    assert all("revisa el teléfono" not in m["text"] for m in chat.inbox.received)
    again = chat.say(sender, "hola")
    assert again[0].language == "es"
    assert chat.desk.store.open_case_of(sender) is None

    page.click("#logout")
    page.wait_for_url(LOGIN)
    assert not page.context.cookies()  # the browser dropped the session cookie
    page.goto(desk + "/")
    page.wait_for_url(LOGIN)


def test_the_queue_fits_a_small_phone_screen(chat, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        _, case_id = open_case_through_the_bot(chat)
        log_in(page, chat.desk.base, "ana")
        page.locator(f'#queue [data-case-id="{case_id}"]').wait_for()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "queue-360px.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width} px wide on a 360 px screen"
    finally:
        context.close()


def test_nothing_is_shown_without_logging_in(chat, page):
    desk = chat.desk.base
    _, case_id = open_case_through_the_bot(chat)
    page.goto(f"{desk}/#/cases/{case_id}")
    page.wait_for_url(LOGIN)
    assert "tengo miedo" not in page.content()
    for path in ("/api/cases", f"/api/cases/{case_id}", "/api/audit", "/api/me"):
        status = page.evaluate(f"fetch('{path}').then(r => r.status)")
        assert status == 401, path
    page.fill("#username", "ana")
    page.fill("#password", "not the password")
    page.click("#login")
    page.locator("#login-error").get_by_text("wrong name or password").wait_for()
    assert LOGIN.search(page.url)
    # The right password leads to the case the link was for.
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.locator("#messages").get_by_text("tengo miedo").wait_for()


def test_another_team_s_case_stays_hidden(chat, page):
    desk = chat.desk.base
    _, case_id = open_case_through_the_bot(chat)  # violence: the GBV team's
    log_in(page, desk, account(chat.desk.store, "leo", ["child_protection"]))
    page.get_by_text("Loading cases").wait_for(state="detached")  # the queue is in
    assert page.locator(f'[data-case-id="{case_id}"]').count() == 0
    page.goto(f"{desk}/#/cases/{case_id}")
    page.get_by_text("no such case").wait_for()
    assert "tengo miedo" not in page.content()


class EvilSite:
    """Another site on this machine (same host, another port: the browser sends the
    SameSite cookie along) that posts to the console with the caseworker's session."""

    def __init__(self, desk: str, case_id: int) -> None:
        # A form with a JSON-looking text body: the classic CSRF on a JSON API.
        page = f"""<!doctype html><title>free wifi</title>
<form id=f method=post action="{desk}/api/cases/{case_id}/claim"
 enctype="text/plain"><input name='{{"a":"' value='"}}'></form>
<script>document.getElementById("f").submit()</script>""".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


def test_posts_without_the_csrf_token_are_refused(chat, page):
    desk = chat.desk.base
    _, case_id = open_case_through_the_bot(chat)
    log_in(page, desk, "ana")
    # From the console's own origin, with the cookie but without the token.
    status = page.evaluate(
        f"""fetch('/api/cases/{case_id}/claim', {{method: 'POST', body: '{{}}',
            headers: {{'Content-Type': 'application/json'}}}}).then(r => r.status)"""
    )
    assert status == 403
    # From another site, in the same browser, with the cookie sent along.
    evil = EvilSite(desk, case_id)
    try:
        with page.expect_response(
            lambda r: r.url.endswith(f"/cases/{case_id}/claim")
        ) as posted:
            page.goto(evil.url)
        assert posted.value.status in (403, 415)  # another site's, and not JSON
    finally:
        evil.server.shutdown()
    sue = next(c for c in chat.desk.store.caseworkers() if c.role == "supervisor")
    assert chat.desk.store.case(case_id, sue, audit=False).status == "queued"
