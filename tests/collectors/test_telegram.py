"""The telegram collector driven through Telethon's own TelegramClient class and real TL
objects: the subclass below serves `types.Message`s from memory instead of the network."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from telethon import TelegramClient, errors, utils
from telethon.tl import types

from monitor.collectors import CollectorDeferred
from monitor.collectors.registry import parse_source
from monitor.collectors.telegram import (
    NOT_AUTHORIZED,
    TelegramCollector,
    api_credentials,
    secure_session_file,
)
from monitor.config import parse_config
from monitor.errors import CollectorError, ConfigError
from tests.support.collect import drain, run

CHANNEL_ID = 1_234_567_890
ACCESS_HASH = -5_555_123_456_789
T0 = datetime(2024, 5, 24, 9, 0, tzinfo=UTC)


def msg(mid: int, text: str = "", **kw) -> types.Message:
    return types.Message(id=mid, peer_id=types.PeerChannel(CHANNEL_ID),
                         date=T0 + timedelta(minutes=mid), message=text, post=True, **kw)


def document(doc_id: int, name: str, size: int, mime: str = "text/csv") -> types.Document:
    return types.Document(id=doc_id, access_hash=42, file_reference=b"\x01", date=T0,
                          mime_type=mime, size=size, dc_id=4,
                          attributes=[types.DocumentAttributeFilename(file_name=name)])


class ServedClient(TelegramClient):
    """A real TelegramClient (MemorySession, never connected to Telegram) whose network
    methods serve canned TL objects."""

    def __init__(self, messages, *, authorized=True, files=None, flood_after=None):
        super().__init__(None, 12345, "0123456789abcdef0123456789abcdef")
        self.messages = {m.id: m for m in messages}
        self.authorized = authorized
        self.files = files or {}
        self.flood_after = flood_after  # raise FloodWaitError after serving this many
        self.resolves = 0
        self.history_calls = []
        self.downloaded = 0
        self.downloads_closed = 0
        self.access_hash = ACCESS_HASH
        self.flood_error = errors.FloodWaitError
        self._up = False

    async def connect(self):
        self._up = True

    def is_connected(self):
        return self._up

    async def disconnect(self):
        self._up = False

    async def is_user_authorized(self):
        return self.authorized

    async def get_input_entity(self, peer):
        self.resolves += 1
        if peer == "missingchan":
            raise errors.UsernameNotOccupiedError(request=None)
        return types.InputPeerChannel(CHANNEL_ID, self.access_hash)

    def iter_messages(self, entity, limit=None, *, min_id=0, reverse=False, **kw):
        assert isinstance(entity, types.InputPeerChannel)
        assert entity.channel_id == CHANNEL_ID
        if entity.access_hash != self.access_hash:  # what Telegram answers a foreign hash
            raise errors.ChannelInvalidError(request=None)
        self.history_calls.append({"limit": limit, "min_id": min_id, "reverse": reverse})
        ids = sorted((i for i in self.messages if i > min_id), reverse=not reverse)
        if limit is not None:
            ids = ids[:limit]

        async def gen():
            for n, i in enumerate(ids):
                if self.flood_after is not None and n >= self.flood_after:
                    raise self.flood_error(request=None, capture=42)
                yield self.messages[i]
        return gen()

    def iter_download(self, file, *, file_size=None, **kw):
        data = self.files[file.id]

        async def gen():
            try:
                for i in range(0, len(data), 128 * 1024):
                    chunk = data[i:i + 128 * 1024]
                    self.downloaded += len(chunk)
                    yield chunk
            finally:  # Telethon's _DirectDownloadIter closes its sender here
                self.downloads_closed += 1
        return gen()


CSV = b"id,nir,nom\n1,185057800608436,DUPONT\n"


def history():
    return [
        msg(1, "Channel opened. Backup: t.me/leakbackup", views=10),
        msg(2, "dump dedalus-biologie.fr, full: ", views=20, post_author="admin_x",
            entities=[types.MessageEntityTextUrl(offset=0, length=4,
                                                 url="https://t.me/joinchat/AAAAAEhidden")]),
        msg(3, "reposted", fwd_from=types.MessageFwdHeader(
            date=T0, from_id=types.PeerChannel(777), channel_post=55)),
        msg(4, "sample below (edited)", edit_date=T0 + timedelta(hours=2),
            media=types.MessageMediaDocument(document=document(9001, "patients.csv", len(CSV)))),
        msg(5, "big archive", media=types.MessageMediaDocument(
            document=document(9002, "all.zip", 3 * 1024 * 1024, "application/zip"))),
        msg(6, "a video", media=types.MessageMediaDocument(
            document=document(9003, "clip.mp4", 10_000, "video/mp4"))),
    ]


FILES = {9001: CSV, 9002: b"PK" + b"\0" * (3 * 1024 * 1024 - 2), 9003: b"\0" * 10_000}


def make(client, config, tmp_path, **extra):
    src = parse_source({"name": "tg", "type": "telegram", "channel": "@leakmarketfr",
                        "max_item_mb": 1, **extra})
    return TelegramCollector(src, config, tmp_path, client_factory=lambda: client)


def docs_of(batches):
    return [d for b in batches for d in b.documents]


def test_backfill_reads_real_tl_objects(config, tmp_path):
    client = ServedClient(history(), files=FILES)
    batches = run(drain(make(client, config, tmp_path)))
    docs = docs_of(batches)
    by_id = {d.external_id: d for d in docs}
    assert [d.external_id for d in docs] == ["1", "2", "3", "4", "4/doc/9001", "5",
                                             "5/doc/9002", "6"]
    assert by_id["1"].metadata["links"] == ["https://t.me/leakbackup"]
    assert by_id["2"].author == "admin_x" and by_id["2"].metadata["views"] == 20
    assert "https://t.me/joinchat/AAAAAEhidden" in by_id["2"].metadata["links"]
    assert by_id["3"].forwarded_from == "channel:777/55"
    assert by_id["4"].edited_at == T0 + timedelta(hours=2)
    assert by_id["4"].posted_at == T0 + timedelta(minutes=4)
    assert by_id["4"].url == "https://t.me/leakmarketfr/4"
    sample = by_id["4/doc/9001"]
    assert sample.content == CSV and sample.filename == "patients.csv"
    assert sample.parent_id == "4" and "truncated" not in sample.metadata
    # the file keeps its post's text and channel: archive passwords come from there
    assert sample.metadata["caption"] == by_id["4"].content.decode()
    assert sample.metadata["channel"] == "leakmarketfr"
    big = by_id["5/doc/9002"]
    assert big.metadata["truncated"] is True and len(big.content) == 1024 * 1024
    # streaming stopped at the cap: at most one chunk past it, not the whole 3 MB
    assert client.downloaded - len(CSV) <= 1024 * 1024 + 128 * 1024
    assert b"[document] clip.mp4" in by_id["6"].content  # name kept, video not downloaded
    assert json.loads(batches[-1].cursor) == {
        "last_id": 6, "peer": {"id": CHANNEL_ID, "access_hash": ACCESS_HASH,
                               "channel": "leakmarketfr"}}
    assert client.resolves == 1
    assert client.history_calls[-1] == {"limit": None, "min_id": 0, "reverse": True}


def test_backfill_is_bounded_to_the_newest_messages(config, tmp_path):
    client = ServedClient([msg(i, f"m{i}") for i in range(1, 51)])
    docs = docs_of(run(drain(make(client, config, tmp_path, backfill=10))))
    assert [d.external_id for d in docs] == [str(i) for i in range(41, 51)]
    assert client.history_calls[0]["limit"] == 1  # the newest id, then oldest first
    assert client.history_calls[1] == {"limit": None, "min_id": 40, "reverse": True}


def test_resumed_cursor_picks_up_exactly_the_new_messages(config, tmp_path):
    client = ServedClient(history(), files=FILES)
    cursor = run(drain(make(client, config, tmp_path)))[-1].cursor
    newer = [*history(), msg(7, "new one"), msg(8, "another, see t.me/+NewInvite")]
    restarted = ServedClient(newer, files=FILES)  # new client and collector: a restart
    batches = run(drain(make(restarted, config, tmp_path), cursor))
    assert [d.external_id for d in docs_of(batches)] == ["7", "8"]
    assert restarted.resolves == 0  # id and access hash came from the cursor
    assert restarted.history_calls == [{"limit": None, "min_id": 6, "reverse": True}]
    assert "https://t.me/+NewInvite" in docs_of(batches)[1].metadata["links"]
    assert json.loads(batches[-1].cursor)["last_id"] == 8
    assert docs_of(run(drain(make(restarted, config, tmp_path), batches[-1].cursor))) == []


def test_flood_wait_defers_this_source_after_committable_batches(config, tmp_path):
    client = ServedClient([msg(i, f"m{i}") for i in range(1, 8)], flood_after=5)
    col = make(client, config, tmp_path, batch_size=2)
    got = []

    async def go():
        async for b in col.collect(json.dumps({"last_id": 0})):
            got.append(b)

    with pytest.raises(CollectorDeferred, match=r"source 'tg'.*wait 42s") as e:
        run(go())
    assert e.value.retry_after == 42
    assert [[d.external_id for d in b.documents] for b in got] == [["1", "2"], ["3", "4"]]
    assert json.loads(got[-1].cursor)["last_id"] == 4  # the runner resumes after 4


def test_unauthorized_session_never_prompts(config, tmp_path):
    client = ServedClient(history(), authorized=False)
    with pytest.raises(CollectorError) as e:
        run(drain(make(client, config, tmp_path)))
    assert str(e.value) == NOT_AUTHORIZED
    assert client.history_calls == []


def test_unknown_channel_is_named(config, tmp_path):
    client = ServedClient([])
    src = parse_source({"name": "tg", "type": "telegram", "channel": "missingchan"})
    col = TelegramCollector(src, config, tmp_path, client_factory=lambda: client)
    with pytest.raises(CollectorError, match="no public channel named 'missingchan'"):
        run(drain(col))


def test_api_credentials_from_config_or_env(monkeypatch, tmp_path):
    monkeypatch.delenv("LEAKMON_TELEGRAM_API_ID", raising=False)
    monkeypatch.delenv("LEAKMON_TELEGRAM_API_HASH", raising=False)
    empty = parse_config({})
    with pytest.raises(ConfigError, match="LEAKMON_TELEGRAM_API_ID"):
        api_credentials(empty)
    cfg = parse_config({"sources": [{"name": "t", "type": "telegram", "channel": "x",
                                     "api_id": 111, "api_hash": "abc"}]})
    assert api_credentials(cfg) == (111, "abc")
    monkeypatch.setenv("LEAKMON_TELEGRAM_API_ID", "222")
    monkeypatch.setenv("LEAKMON_TELEGRAM_API_HASH", "def")
    assert api_credentials(empty) == (222, "def")


def test_session_file_is_made_private(tmp_path):
    session = tmp_path / "telegram.session"
    session.write_bytes(b"sqlite")
    os.chmod(session, 0o644)
    secure_session_file(tmp_path)
    assert stat.S_IMODE(session.stat().st_mode) == 0o600


def test_service_messages_are_flagged(config, tmp_path):
    service = types.MessageService(id=2, peer_id=types.PeerChannel(CHANNEL_ID), date=T0,
                                   action=types.MessageActionPinMessage())
    client = ServedClient([msg(1, "hello"), service, msg(3, "bye")])
    docs = docs_of(run(drain(make(client, config, tmp_path))))
    assert [d.external_id for d in docs] == ["1", "2", "3"]
    assert docs[1].metadata["service"] == "MessageActionPinMessage" and docs[1].content == b""


def test_real_client_creates_its_session_file_owner_only(tmp_path):
    import os
    import stat

    from monitor.collectors.telegram import SESSION_NAME, make_telegram_client

    previous = os.umask(0o022)  # a typical umask: files would be world-readable
    try:
        client = make_telegram_client(tmp_path, 12345, "0123456789abcdef")
        assert os.umask(0o022) == 0o022  # restored after the client was made
    finally:
        os.umask(previous)
    session = tmp_path / f"{SESSION_NAME}.session"  # Telethon adds the suffix
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    client.session.close()


def test_flood_premium_wait_defers_only_this_source(config, tmp_path):
    client = ServedClient([msg(i, f"m{i}") for i in range(1, 4)], flood_after=1)
    client.flood_error = errors.FloodPremiumWaitError  # a FloodError, not a FloodWaitError
    with pytest.raises(CollectorDeferred, match=r"wait 42s \(FloodPremiumWaitError\)") as e:
        run(drain(make(client, config, tmp_path), json.dumps({"last_id": 0})))
    assert e.value.retry_after == 42


def test_relogin_with_another_account_resolves_the_channel_again(config, tmp_path):
    client = ServedClient(history(), files=FILES)
    cursor = run(drain(make(client, config, tmp_path, backfill=2)))[-1].cursor
    assert client.resolves == 1
    client.access_hash = ACCESS_HASH + 1  # new account: the cached hash is someone else's
    client.messages[7] = msg(7, "after relogin")
    batches = run(drain(make(client, config, tmp_path), cursor))
    assert [d.external_id for d in docs_of(batches)] == ["7"]
    assert client.resolves == 2  # once, not in a loop
    assert json.loads(batches[-1].cursor)["peer"]["access_hash"] == ACCESS_HASH + 1


def test_channel_invalid_after_resolving_again_is_private_or_banned(config, tmp_path):
    client = ServedClient(history(), files=FILES)
    cursor = run(drain(make(client, config, tmp_path, backfill=2)))[-1].cursor

    async def invalid(peer):
        client.resolves += 1
        return types.InputPeerChannel(CHANNEL_ID, ACCESS_HASH + 9)

    client.access_hash = ACCESS_HASH + 1
    client.get_input_entity = invalid
    with pytest.raises(CollectorError, match="private or banned"):
        run(drain(make(client, config, tmp_path), cursor))
    assert client.resolves == 2


def test_capped_download_closes_its_iterator(config, tmp_path):
    client = ServedClient(history(), files=FILES)
    docs = docs_of(run(drain(make(client, config, tmp_path), json.dumps({"last_id": 4}))))
    big = next(d for d in docs if d.filename == "all.zip")
    assert big.metadata["truncated"] is True
    assert client.downloaded < 3 * 1024 * 1024 and client.downloads_closed == 1


def test_forwards_previews_and_polls_read_like_the_web_preview(config, tmp_path):
    source_chan = types.Channel(id=777, title="Dump Source", photo=types.ChatPhotoEmpty(),
                                date=T0, username="dumpsource", access_hash=99)
    fwd = msg(1, "reposted", fwd_from=types.MessageFwdHeader(
        date=T0, from_id=types.PeerChannel(777), channel_post=55, post_author="K. Vendor"))
    preview = msg(2, "mirror:", media=types.MessageMediaWebPage(webpage=types.WebPage(
        id=1, url="https://files.example/f/abc", display_url="files.example/f/abc", hash=0,
        site_name="FileHost", title="acme_clients.zip", description="Size: 1.2 GB")))
    poll = msg(3, media=types.MessageMediaPoll(poll=types.Poll(
        id=5, hash=0, question=types.TextWithEntities("Next dump?", []), answers=[
            types.PollAnswer(types.TextWithEntities("acme.com", []), b"0"),
            types.PollAnswer(types.TextWithEntities("globex", []), b"1")]),
        results=types.PollResults()))
    client = ServedClient([fwd, preview, poll])
    # what Telethon does with the entities of a real answer
    fwd._finish_init(client, {utils.get_peer_id(source_chan): source_chan}, None)
    docs = {d.external_id: d for d in docs_of(run(drain(make(client, config, tmp_path),
                                                        json.dumps({"last_id": 0}))))}
    assert docs["1"].forwarded_from == "Dump Source @dumpsource, K. Vendor channel:777/55"
    assert docs["2"].content.decode() == ("mirror:\n[link preview] FileHost | acme_clients.zip"
                                          " | Size: 1.2 GB | https://files.example/f/abc")
    assert "https://files.example/f/abc" in docs["2"].metadata["links"]
    assert docs["3"].content.decode() == "[poll] Next dump?: acme.com / globex"
