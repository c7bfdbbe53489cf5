"""Raw evidence is never shown unless an admin turned [web] show_unredacted on."""

from __future__ import annotations

import pytest

from monitor.models import Document, Hit
from monitor.store import Store
from tests.support.seed import T0, add_users
from tests.support.web import login, start

RAW = b"NOM;PRENOM;NIR\nMARTIN;ANNE;278026912345692\n<script>x</script>"


@pytest.fixture
def evstore(tmp_path):
    with Store.open(tmp_path, evidence=True) as s:
        add_users(s)
        iid = s.create_incident(dedup_key="k", title="dump", rule_id="r", rule_title="r",
                                severity="high", confidence=1.0, seen_at=T0, canary=False,
                                tags=[], excerpt="M*****;****")
        sha = "ab" * 32
        path = s.evidence.write(sha, RAW)
        did = s.save_document(Document("pastes", "pastebin", "p1", RAW), sha256=sha,
                              excerpt="M*****;****", evidence_path=str(path))
        s.set_document_incident(did, iid)
        s.replace_hits(did, [Hit("r", "r", "high", 1, "M*****;****")], iid)
        s.add_sighting(iid, did, source="pastes", platform="pastebin", site="pastebin",
                       url=None, seen_at=T0)
        yield s, iid, did


@pytest.mark.parametrize("show", [False, True])
def test_evidence_only_for_admins_with_show_unredacted(evstore, show):
    store, iid, did = evstore
    srv = start(store, show_unredacted=show)
    base = f"http://127.0.0.1:{srv.port}"
    try:
        for name in ("alice", "root"):
            c = login(base, name)
            page = c.get(f"/incidents/{iid}").text
            ev = c.get(f"/incidents/{iid}/evidence/{did}")
            c.close()
            assert "278026912345692" not in page and "MARTIN" not in page
            if show and name == "root":
                assert f"/incidents/{iid}/evidence/{did}" in page
                assert ev.status_code == 200 and "278026912345692" in ev.text
                assert "&lt;script&gt;x&lt;/script&gt;" in ev.text
            else:
                assert "/evidence/" not in page
                assert ev.status_code == 403 and "278026912345692" not in ev.text
    finally:
        srv.stop()
