"""The console in real headless Chromium (Debian's chromium + chromedriver, via Selenium).

Selenium Manager must not download anything: the system chromedriver is passed explicitly.
With LEAKMON_SCREENSHOTS=DIR the main pages are saved there as PNG (docs/ screenshots).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.seed import PASSWORDS

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chrome'}",
                "--no-first-run", "--disable-background-networking"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _shot(driver, name: str) -> None:
    folder = os.environ.get("LEAKMON_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"console-{name}.png"))


def _login(driver, base: str, name: str) -> WebDriverWait:
    wait = WebDriverWait(driver, 20)
    driver.get(base + "/login")
    _shot(driver, "login") if name == "alice" else None
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    driver.find_element(By.ID, "login").click()
    wait.until(ec.presence_of_element_located((By.ID, "incidents")))
    return wait


def _click_to_new_page(driver, element) -> None:
    """Click what submits a form and wait until the page it loads has replaced this one: an
    element found by id before then may be the old page's, and asking its text while that page
    goes raises ("Node with given id does not belong to the document"), which a wait for its
    text does not retry. The same error can come while this wait asks whether the old page is
    gone: here it only means "not yet"."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(
        ec.staleness_of(old))


def test_analyst_acknowledges_with_a_note(browser, base, seeded, store):
    wait = _login(browser, base, "alice")
    assert browser.find_element(By.ID, "whoami").text == "alice (analyst)"
    _shot(browser, "incidents")
    links = browser.find_elements(By.CSS_SELECTOR, "a.incident-link")
    assert any("<b>us</b>" in a.text for a in links)  # hostile title shown as text
    next(a for a in links if a.text == "Records of fingerprint set patients").click()
    wait.until(ec.presence_of_element_located((By.ID, "spread")))
    assert browser.current_url == f"{base}/incidents/{seeded['leak']}"
    # the spread picture: one row of sightings per site, and the records line
    spread = browser.find_element(By.ID, "spread")
    assert len(spread.find_elements(By.CSS_SELECTOR, "circle.sighting")) == 3
    assert spread.size["height"] > 100
    assert len(spread.find_elements(By.CSS_SELECTOR, "polyline.records")) == 1
    assert "PAT-0000" in browser.find_element(By.ID, "canaries").text
    browser.find_element(By.ID, "note").send_keys("sent to DPO, ticket SOC-481")
    _click_to_new_page(browser, browser.find_element(By.ID, "action-ack"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "acknowledged"))
    row = browser.find_element(By.CSS_SELECTOR, "#log tbody tr:last-child")
    assert row.find_element(By.CSS_SELECTOR, ".actor").text == "web:alice"
    assert row.find_element(By.CSS_SELECTOR, ".note").text == "sent to DPO, ticket SOC-481"
    _shot(browser, "incident")
    assert store.get_incident(seeded["leak"]).status == "acknowledged"
    browser.find_element(By.ID, "logout").click()
    wait.until(ec.presence_of_element_located((By.ID, "login")))
    browser.get(base + f"/incidents/{seeded['leak']}")
    assert browser.find_elements(By.ID, "login")  # back to the login page


def test_hostile_excerpt_runs_no_script(browser, base, seeded):
    _login(browser, base, "alice")
    browser.get(f"{base}/incidents/{seeded['hostile']}")
    excerpt = browser.find_element(By.CSS_SELECTOR, "#sightings .excerpt").text
    assert excerpt == '<script>alert(1)</script> "><img src=x onerror=alert(2)>'
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script")


def test_viewer_cannot_triage(browser, base, seeded, store):
    _login(browser, base, "victor")
    browser.get(f"{base}/incidents/{seeded['leak']}")
    assert browser.find_element(By.ID, "read-only").is_displayed()
    assert not browser.find_elements(By.ID, "triage")
    assert store.get_incident(seeded["leak"]).status == "new"


def test_operations_pages(browser, store, seeded, tmp_path):
    from datetime import timedelta

    from monitor.alerting.notification import Notification
    from monitor.config import parse_config
    from monitor.models import Document, utcnow
    from tests.support.web import start
    from tests.web.test_ops_pages import REPO_RULES

    config = parse_config({"rules": [str(REPO_RULES)], "sources": [
        {"name": "tg-leaks", "type": "telegram", "channels": ["leaks_fr"]},
        {"name": "pastes", "type": "pastebin"}]})
    now = utcnow()
    store.record_source_run("tg-leaks", True, 12, now=now)
    store.record_source_run("pastes", False, 0, "HTTP 429 Too Many Requests", now=now)
    for day in range(30):
        for k in range(day % 7 + 1):
            store.save_document(Document("tg-leaks", "telegram", f"{day}-{k}", b"",
                                         fetched_at=now - timedelta(days=day)),
                                sha256="2" * 64, excerpt=None)
    n = Notification(idempotency_key="k1:new", event="new", reason="new incident",
                     incident_id=seeded["leak"], dedup_key="k1", title="t", severity="high",
                     confidence=1.0, rule_id="r", rule_title="r", created_at=now.isoformat())
    store.enqueue(n, ["slack", "soc-mail"])
    dead = next(r["id"] for r in store.outbox_rows() if r["sink"] == "slack")
    store.outbox_failed(dead, "HTTP 404 no_service", None)
    srv = start(store, config)
    try:
        base = f"http://127.0.0.1:{srv.port}"
        wait = _login(browser, base, "alice")
        browser.find_element(By.LINK_TEXT, "Sources").click()
        wait.until(ec.presence_of_element_located((By.ID, "sources")))
        assert browser.find_elements(By.CSS_SELECTOR, "#sources svg.spark polyline")
        _shot(browser, "sources")
        browser.find_element(By.LINK_TEXT, "Rules").click()
        wait.until(ec.presence_of_element_located((By.ID, "rules")))
        assert "0 errors" in browser.find_element(By.ID, "rules-summary").text
        _shot(browser, "rules")
        browser.find_element(By.LINK_TEXT, "Outbox").click()
        wait.until(ec.presence_of_element_located((By.ID, "dead")))
        _shot(browser, "outbox")
        _click_to_new_page(browser, browser.find_element(By.ID, f"retry-{dead}"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "dead"), "none"))
        assert store.outbox_rows(status="dead") == []
    finally:
        srv.stop()
