"""/api/v1 over a real uvicorn server: auth, roles, tokens, filters, paging, triage."""

from __future__ import annotations

import re

import httpx

from monitor.store.users import create_token
from tests.support.seed import add_many
from tests.support.web import login, start


def _api(base, store, name):
    return httpx.Client(base_url=base,
                        headers={"Authorization": f"Bearer {create_token(store, name)}"})


def test_unauthenticated_api_gets_401_and_ui_goes_to_login(base):
    for path in ("/api/v1/incidents", "/api/v1/incidents/1"):
        r = httpx.get(base + path)
        assert r.status_code == 401
        assert "authentication required" in r.json()["error"]
    assert httpx.get(base + "/api/v1/incidents",
                     headers={"Authorization": "Bearer lm_wrong"}).status_code == 401
    r = httpx.get(base + "/incidents/1")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_token_lists_same_data_as_alerts_list_json(base, store, seeded):
    with _api(base, store, "victor") as c:
        body = c.get("/api/v1/incidents").json()
    assert body["total"] == 2
    assert body["counts"] == {"new": 2}
    leak = next(i for i in body["incidents"] if i["id"] == seeded["leak"])
    assert leak["sites"] == ["pastebin:pastebin", "telegram:leaks_fr", "tor:lockbit"]
    assert leak["record_count"] == 3 and leak["canary"] is True
    assert store.get_incident(seeded["leak"]).to_dict().items() <= leak.items()


def test_show_has_record_ids_sightings_and_log(base, store, seeded):
    with _api(base, store, "victor") as c:
        d = c.get(f"/api/v1/incidents/{seeded['leak']}").json()
        assert c.get("/api/v1/incidents/999").status_code == 404
    assert d["record_ids"] == ["PAT-0000", "PAT-0001", "PAT-0002"]
    assert d["canary_records"] == ["PAT-0000"]
    assert [s["site"] for s in d["sightings_detail"]] == ["leaks_fr", "pastebin", "lockbit"]


def test_viewer_cannot_triage_analyst_can_and_is_logged(base, store, seeded):
    iid = seeded["leak"]
    with _api(base, store, "victor") as c:
        r = c.post(f"/api/v1/incidents/{iid}/triage", json={"action": "ack"})
    assert r.status_code == 403
    assert store.get_incident(iid).status == "new"
    with _api(base, store, "alice") as c:
        r = c.post(f"/api/v1/incidents/{iid}/triage", json={"action": "ack", "note": "SOC-481"})
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        bad = c.post(f"/api/v1/incidents/{iid}/triage", json={"action": "delete"})
        assert bad.status_code == 400 and "delete" in bad.json()["error"]
        bad = c.post(f"/api/v1/incidents/{iid}/triage", json={"action": "ack", "note": [1]})
        assert bad.status_code == 400 and "note" in bad.json()["error"]
        assert c.post(f"/api/v1/incidents/{iid}/triage", content=b"{").status_code == 400
        z = c.post(f"/api/v1/incidents/{iid}/triage", json={"action": "snooze", "duration": "2d"})
        assert z.json()["status"] == "snoozed"
    log = store.incident_log(iid)
    assert [(e["actor"], e["note"]) for e in log] == [("api:alice", "SOC-481"),
                                                      ("api:alice", None)]


def test_filters(base, store, seeded):
    with _api(base, store, "victor") as c:
        def ids(**params):
            r = c.get("/api/v1/incidents", params=params)
            assert r.status_code == 200, r.text
            return [i["id"] for i in r.json()["incidents"]]
        assert ids(severity="high") == [seeded["leak"]]
        assert ids(rule="org.mention") == [seeded["hostile"]]
        assert ids(site="tor:lockbit") == [seeded["leak"]]
        assert ids(platform="pastebin") == [seeded["leak"]]
        assert ids(canary="false") == [seeded["hostile"]]
        assert ids(q="<b>us</b>") == [seeded["hostile"]]
        assert ids(q="<B>US</B>") == [seeded["hostile"]]  # ASCII case ignored, any backend
        assert ids(q="100%") == []
        # leak: last seen 11:00 (its third site); hostile: 10:00
        assert ids(since="2026-11-01T10:30:00+00:00") == [seeded["leak"]]
        assert ids(until="2026-11-01T10:30:00+00:00") == [seeded["hostile"]]
        assert ids(sort="severity") == [seeded["leak"], seeded["hostile"]]
        r = c.get("/api/v1/incidents", params={"status": "bogus"})
        assert r.status_code == 400 and "status" in r.json()["error"]


def test_paging_through_ten_thousand_incidents(tmp_path):
    from monitor.store import Store
    from tests.support.seed import add_users

    with Store.open(tmp_path) as s:
        add_users(s)
        add_many(s, 10_000)
        srv = start(s)
        try:
            with _api(f"http://127.0.0.1:{srv.port}", s, "victor") as c:
                seen, page = [], 1
                while True:
                    body = c.get("/api/v1/incidents",
                                 params={"per_page": 500, "page": page}).json()
                    if not body["incidents"]:
                        break
                    seen += [i["id"] for i in body["incidents"]]
                    page += 1
                assert body["total"] == 10_000
                assert seen == list(range(10_000, 0, -1))  # newest first, each once
                crit = c.get("/api/v1/incidents", params={"severity": "critical",
                                                          "page": 4, "per_page": 100}).json()
                assert crit["total"] == 2000
                assert all(i["severity"] == "critical" for i in crit["incidents"])
                assert c.get("/api/v1/incidents", params={"per_page": 501}).status_code == 400
        finally:
            srv.stop()


def test_cookie_session_cannot_use_api(base):
    c = login(base, "alice")
    try:
        assert c.get("/incidents").status_code == 200
        assert c.get("/api/v1/incidents").status_code == 401
    finally:
        c.close()


def test_openapi_describes_the_routes(base):
    doc = httpx.get(base + "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/incidents", "/api/v1/incidents/{id}",
            "/api/v1/incidents/{id}/triage"} <= set(doc["paths"])


def test_tokens_are_hashed_at_rest(store):
    token = create_token(store, "alice")
    dump = "\n".join(store.db.conn.iterdump())
    assert token not in dump
    assert re.search(r"\$argon2id\$", dump)
    assert "alice-analyst-pw" not in dump
