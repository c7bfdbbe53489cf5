"""The console's pages over a real uvicorn server: sessions, CSRF, escaping, headers, proxy."""

from __future__ import annotations

import re

import httpx
import pytest

from monitor.config import ConfigError, parse_config
from monitor.store.users import get_user
from tests.support.seed import PASSWORDS
from tests.support.web import login, post_login, start


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def alice(base):
    c = login(base, "alice")
    yield c
    c.close()


def test_session_cookie_flags(store, seeded):
    srv = start(store, secure_cookies=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}") as c:
            r = post_login(c, "alice", PASSWORDS["alice"])
    finally:
        srv.stop()
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie


def test_triage_form_needs_the_sessions_csrf_token(alice, store, seeded):
    iid = seeded["leak"]
    page = alice.get(f"/incidents/{iid}").text
    r = alice.post(f"/incidents/{iid}/triage", data={"action": "ack", "csrf": "forged"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = alice.post(f"/incidents/{iid}/triage", data={"action": "ack"})
    assert r.status_code == 403
    assert store.get_incident(iid).status == "new"
    r = alice.post(f"/incidents/{iid}/triage",
                   data={"action": "ack", "note": "sent to DPO", "csrf": _csrf(page)})
    assert r.status_code == 303
    assert store.get_incident(iid).status == "acknowledged"
    assert store.incident_log(iid)[-1]["actor"] == "web:alice"


def test_viewer_sees_no_triage_form_and_cannot_post(base, store, seeded):
    c = login(base, "victor")
    try:
        page = c.get(f"/incidents/{seeded['leak']}").text
        assert 'id="triage"' not in page and "Read-only" in page
        r = c.post(f"/incidents/{seeded['leak']}/triage",
                   data={"action": "resolve", "csrf": _csrf(page)})
        assert r.status_code == 403
    finally:
        c.close()
    assert store.get_incident(seeded["leak"]).status == "new"


def test_hostile_excerpt_and_title_are_text(alice, seeded):
    for path in (f"/incidents/{seeded['hostile']}", "/incidents"):
        html = alice.get(path).text
        assert "<script>alert(1)" not in html
        assert "<img src=x onerror" not in html and "<img onerror" not in html
        assert "<b>us</b>" not in html
    html = alice.get(f"/incidents/{seeded['hostile']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;&gt;&lt;img src=x onerror=alert(2)&gt;" \
        in html


def test_strict_csp_on_every_page(alice):
    for path in ("/incidents", "/login", "/static/console.css"):
        csp = alice.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "frame-ancestors 'none'" in csp


def test_login_is_rate_limited(base):
    with httpx.Client(base_url=base) as c:
        for _ in range(5):
            assert post_login(c, "alice", "wrong-guess").status_code == 401
        r = post_login(c, "alice", PASSWORDS["alice"])
    assert r.status_code == 429 and "too many" in r.text


def test_login_form_needs_its_csrf_token(base):
    r = httpx.post(base + "/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert r.status_code == 403 and "leakmon_session" not in r.headers.get("set-cookie", "")
    with httpx.Client(base_url=base) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "alice", "password": PASSWORDS["alice"],
                                   "csrf": "forged"})
    assert r.status_code == 403


def test_logout_ends_the_session(alice):
    page = alice.get("/incidents").text
    cookie = alice.cookies["leakmon_session"]
    assert alice.post("/logout", data={"csrf": _csrf(page)}).status_code == 303
    again = httpx.get(alice.base_url.join("/incidents"), cookies={"leakmon_session": cookie})
    assert again.status_code == 303 and again.headers["location"] == "/login"


def test_proxy_header_only_from_the_configured_proxy(store, seeded):
    hdr = {"X-Forwarded-User": "alice"}
    srv = start(store, proxy_header="X-Forwarded-User", proxy_address="127.0.0.2")
    try:
        r = httpx.get(f"http://127.0.0.1:{srv.port}/api/v1/incidents", headers=hdr)
        assert r.status_code == 401  # we connect from 127.0.0.1, not the proxy
    finally:
        srv.stop()
    srv = start(store, proxy_header="X-Forwarded-User", proxy_address="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{srv.port}"
        assert httpx.get(base + "/api/v1/incidents", headers=hdr).status_code == 200
        r = httpx.get(base + "/api/v1/incidents", headers={"X-Forwarded-User": "mallory"})
        assert r.status_code == 401
    finally:
        srv.stop()


def test_web_config_section():
    cfg = parse_config({"web": {"listen": "0.0.0.0:9000", "public_url": "https://lm.example"}})
    assert cfg.web.listen == "0.0.0.0:9000" and cfg.web.show_unredacted is False
    with pytest.raises(ConfigError, match="proxy_address"):
        parse_config({"web": {"proxy_header": "X-Forwarded-User"}})
    with pytest.raises(ConfigError, match=r"\[web\]"):
        parse_config({"web": {"listn": "x"}})


def test_admins_manage_users_and_tokens(base, store):
    alice = login(base, "alice")
    root = login(base, "root")
    try:
        page = alice.get("/incidents").text
        assert alice.get("/admin/users").status_code == 403 and "/admin/users" not in page
        r = alice.post("/admin/users", data={"op": "add", "name": "eve", "role": "admin",
                                             "password": "eve-password", "csrf": _csrf(page)})
        assert r.status_code == 403 and get_user(store, "eve") is None
        page = root.get("/admin/users").text
        assert "<td>victor</td><td>viewer</td>" in page
        csrf = _csrf(page)
        r = root.post("/admin/users", data={"op": "add", "name": "dana", "role": "analyst",
                                            "password": "dana-password", "csrf": csrf})
        assert r.status_code == 303 and get_user(store, "dana").role == "analyst"
        r = root.post("/admin/users", data={"op": "add", "name": "dana", "role": "viewer",
                                            "csrf": csrf})
        assert r.status_code == 400 and "already exists" in r.text
        r = root.post("/admin/users", data={"op": "token", "name": "dana", "csrf": csrf})
        token = re.search(r"<code>(lm_[^<]+)</code>", r.text).group(1)
        assert httpx.get(base + "/api/v1/incidents",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        root.post("/admin/users", data={"op": "revoke", "name": "dana", "csrf": csrf})
        assert httpx.get(base + "/api/v1/incidents",
                         headers={"Authorization": f"Bearer {token}"}).status_code == 401
        r = root.post("/admin/users", data={"op": "remove", "name": "root", "csrf": csrf})
        assert r.status_code == 400 and get_user(store, "root") is not None
        root.post("/admin/users", data={"op": "remove", "name": "dana", "csrf": csrf})
        assert get_user(store, "dana") is None
    finally:
        alice.close()
        root.close()
