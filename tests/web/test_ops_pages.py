"""Sources, rules and outbox pages over a real uvicorn server."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.alerting.notification import Notification
from monitor.config import parse_config
from monitor.models import Document, utcnow
from monitor.web.ops import items_per_day
from tests.support.web import login, start

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def config(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO_RULES, rules)
    (rules / "broken.toml").write_text('[[rules]]\nid = "bad<b>"\ntitle = "x"\nseverity = "loud"\n')
    return parse_config({"rules": [str(rules)], "sources": [
        {"name": "tg-leaks", "type": "telegram", "channels": ["leaks_fr"]},
        {"name": "pastes", "type": "pastebin"}]})


@pytest.fixture
def site(store, seeded, config):
    srv = start(store, config)
    yield f"http://127.0.0.1:{srv.port}"
    srv.stop()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_sources_page_shows_health_and_items_per_day(store, site):
    now = utcnow()
    store.record_source_run("pastes", True, 4, now=now - timedelta(hours=2))
    store.record_source_run("pastes", False, 0, "HTTP 403 <blocked>", now=now)
    for day, n in ((0, 3), (2, 1)):
        for k in range(n):
            store.save_document(Document("pastes", "pastebin", f"{day}-{k}", b"",
                                         fetched_at=now - timedelta(days=day)),
                                sha256="1" * 64, excerpt=None)
    per_day = items_per_day(store, now)
    assert per_day["pastes"][-1] == 3 and per_day["pastes"][-3] == 1 and sum(
        per_day["pastes"]) == 4
    c = login(site, "victor")
    try:
        html = c.get("/sources").text
    finally:
        c.close()
    row = re.search(r"<tr class=\"failing\"><td>pastes</td>.*?</tr>", html, re.S).group(0)
    assert '<td class="failures">1</td>' in row
    assert "HTTP 403 &lt;blocked&gt;" in row
    assert 'aria-label="4 items in 30 days"' in row
    assert "<td>tg-leaks</td>" in html


def test_rules_page_lists_rules_and_check_problems(site):
    c = login(site, "victor")
    try:
        html = c.get("/rules").text
    finally:
        c.close()
    assert "broken.toml" in html and "bad&lt;b&gt;" in html and "bad<b>" not in html
    assert "<td>org.mention</td>" in html or "<td>context.leak_announcement</td>" in html
    assert re.search(r"\d+ rules in 5 files, [1-9]\d* errors", html)


def test_dead_notification_retry(store, site, seeded):
    n = Notification(idempotency_key="k1:new", event="new", reason="new incident",
                     incident_id=seeded["leak"], dedup_key="k1", title="t", severity="high",
                     confidence=1.0, rule_id="r", rule_title="r", created_at="2026-11-01")
    store.enqueue(n, ["slack", "mail"])
    rows = {r["sink"]: r["id"] for r in store.outbox_rows()}
    store.outbox_failed(rows["slack"], "HTTP 404 no_service", None)
    store.outbox_failed(rows["mail"], "timeout", utcnow() + timedelta(minutes=5))
    viewer = login(site, "victor")
    alice = login(site, "alice")
    try:
        html = viewer.get("/outbox").text
        assert "<td>slack</td><td>0</td><td>0</td><td>1</td>" in html
        assert "<td>mail</td><td>0</td><td>1</td><td>0</td>" in html
        assert f'id="retry-{rows["slack"]}"' not in html  # viewers read only
        r = viewer.post(f"/outbox/{rows['slack']}/retry", data={"csrf": _csrf(html)})
        assert r.status_code == 403
        assert store.outbox_rows(status="dead")
        page = alice.get("/outbox").text
        assert alice.post(f"/outbox/{rows['slack']}/retry", data={}).status_code == 403
        r = alice.post(f"/outbox/{rows['slack']}/retry", data={"csrf": _csrf(page)})
        assert r.status_code == 303
    finally:
        viewer.close()
        alice.close()
    assert store.outbox_rows(status="dead") == []
    assert {r.sink for r in store.outbox_due()} == {"slack"}
