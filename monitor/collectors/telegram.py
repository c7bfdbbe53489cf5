"""telegram: public channels read with a user account (Telethon), without joining them.

Bots cannot read channel history, so this uses a user session created once, interactively, by
`leakmon telegram login` (`<state_dir>/telegram.session`, mode 0600). The collector never
prompts: an unauthorized session is a CollectorError telling the operator what to run.

Per run: resolve the channel once (its id and access hash are kept in the cursor, so restarts do
not call ResolveUsername, which is heavily flood-limited), then `iter_messages(min_id=last_id,
reverse=True)` oldest first. The first run starts `backfill` message ids below the newest
message. A `FloodWaitError` longer than Telethon's own sleep threshold defers THIS source
(`CollectorDeferred.retry_after`); other sources go on. Documents (txt, csv, sql, zip …) are
streamed with `iter_download` and cut at the size cap. Edits are seen only for messages that
are new at the time of the run (the cursor only moves forward).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from monitor.collectors.attachments import archive_context
from monitor.collectors.base import (
    Batch,
    Collector,
    CollectorDeferred,
    SourceConfig,
    dump_cursor,
    extract_links,
    is_attachment_name,
    load_cursor,
    max_item_bytes,
    merge_links,
    opt,
    require,
)
from monitor.config import Config, resolve_secret
from monitor.errors import CollectorError, ConfigError, LeakmonError, LockBusyError
from monitor.models import Check, Document
from monitor.telegram_links import channel_name

log = logging.getLogger(__name__)

KEYS = frozenset({"channel", "api_id", "api_hash", "batch_size", "download_documents"})
SESSION_NAME = "telegram"  # Telethon adds ".session"
ENV_API_ID = "LEAKMON_TELEGRAM_API_ID"
ENV_API_HASH = "LEAKMON_TELEGRAM_API_HASH"
NOT_AUTHORIZED = "Telegram session not authorized: run `leakmon telegram login`"
ATTACHMENT_MIME = ("text/", "application/zip", "application/gzip", "application/x-gzip",
                   "application/json", "application/sql", "application/x-zip-compressed",
                   "application/csv", "application/vnd.ms-excel")


def session_path(state_dir: Path) -> Path:
    """Where the session lives; Telethon is given this path without the `.session` suffix."""
    return state_dir / f"{SESSION_NAME}.session"


def api_credentials(config: Config, table: dict[str, Any] | None = None) -> tuple[int, str]:
    """api_id and api_hash from a telegram `[[sources]]` table, else the environment."""
    tables = [t for t in config.sources if t.get("type") == "telegram"]
    if table:
        tables.insert(0, table)
    api_id: Any = next((t["api_id"] for t in tables if t.get("api_id")), None)
    api_hash: Any = next((t["api_hash"] for t in tables if t.get("api_hash")), None)
    api_id = api_id or os.environ.get(ENV_API_ID)
    api_hash = api_hash or os.environ.get(ENV_API_HASH)
    if isinstance(api_hash, str):
        api_hash = resolve_secret(api_hash, where="telegram api_hash")
    if not api_id or not api_hash:
        raise ConfigError(
            "Telegram api_id/api_hash missing: set api_id and api_hash in a [[sources]] table "
            f"of type \"telegram\" or the {ENV_API_ID} and {ENV_API_HASH} environment "
            "variables (get them at https://my.telegram.org)")
    try:
        return int(api_id), str(api_hash)
    except (TypeError, ValueError):
        raise ConfigError(f"Telegram api_id must be a number, got {api_id!r}") from None


def make_telegram_client(state_dir: Path, api_id: int, api_hash: str, **options: Any) -> Any:
    """A real TelegramClient on the state dir's session file (not connected yet);
    `options` go to TelegramClient (timeouts, retries)."""
    from telethon import TelegramClient

    # Telethon creates the SQLite session file with the process umask; the session is a
    # login token, so it must be owner-only from its first byte, not after a later chmod.
    old_umask = os.umask(0o077)
    try:
        return TelegramClient(str(state_dir / SESSION_NAME), api_id, api_hash, **options)
    finally:
        os.umask(old_umask)


class _SharedClients:
    """One TelegramClient per session file: Telethon's SQLite session cannot be opened by two
    clients at once, so every telegram source of a daemon shares one connection."""

    def __init__(self) -> None:
        self._clients: dict[str, list[Any]] = {}  # path -> [client, users]

    def acquire(self, state_dir: Path, api_id: int, api_hash: str) -> Any:
        key = str(state_dir / SESSION_NAME)
        entry = self._clients.get(key)
        if entry is None:
            entry = self._clients[key] = [make_telegram_client(state_dir, api_id, api_hash), 0]
        entry[1] += 1
        return entry[0]

    async def release(self, client: Any) -> bool:
        """Forget one user of `client`; True when it was the last (disconnect it then)."""
        for key, entry in list(self._clients.items()):
            if entry[0] is client:
                entry[1] -= 1
                if entry[1] <= 0:
                    del self._clients[key]
                    return True
                return False
        return True


SHARED_CLIENTS = _SharedClients()


def secure_session_file(state_dir: Path) -> None:
    """Telethon creates the SQLite session with the process umask; it holds the account's
    authorization key, so it must be readable by the owner only."""
    for p in (session_path(state_dir), state_dir / f"{SESSION_NAME}.session-journal"):
        if p.exists():
            os.chmod(p, 0o600)


def forward_origin(fwd: Any, forward: Any = None) -> str | None:
    """A readable origin for a MessageFwdHeader: its name, or peer kind and id, and post.

    `forward` is Telethon's `Message.forward` helper: when the answer carried the source
    channel's entity, its title and @username come first (the t.me/s preview shows them too);
    the post signature of the original is added as on t.me/s."""
    if fwd is None:
        return None
    from telethon.tl import types

    chat = getattr(forward, "chat", None) if forward is not None else None
    named = None
    if isinstance(chat, types.Channel):
        named = " ".join(p for p in (chat.title, f"@{chat.username}" if chat.username else None)
                         if p)
    origin = ", ".join(p for p in (named or fwd.from_name, fwd.post_author) if p) or None
    peer = fwd.from_id
    if isinstance(peer, types.PeerChannel):
        ref = f"channel:{peer.channel_id}"
    elif isinstance(peer, types.PeerUser):
        ref = f"user:{peer.user_id}"
    elif isinstance(peer, types.PeerChat):
        ref = f"chat:{peer.chat_id}"
    else:
        ref = None
    if ref and fwd.channel_post:
        ref = f"{ref}/{fwd.channel_post}"
    parts = [p for p in (origin, ref) if p]
    return " ".join(parts) if parts else "unknown origin"


def message_links(msg: Any) -> list[str]:
    """URLs in the text plus hidden text-link URLs (MessageEntityTextUrl) and buttons."""
    from telethon.tl import types

    text = msg.message or ""
    hidden = [e.url for e in (msg.entities or []) if isinstance(e, types.MessageEntityTextUrl)]
    buttons: list[str] = []
    markup = getattr(msg, "reply_markup", None)
    for row in getattr(markup, "rows", None) or []:
        for b in row.buttons:
            if isinstance(b, types.KeyboardButtonUrl):
                buttons.append(b.url)
    return merge_links(extract_links(text), hidden, buttons)


def _plain(text: Any) -> str:
    """TextWithEntities (poll texts since layer 178) or str -> str."""
    return str(getattr(text, "text", text) or "")


def media_text(media: Any) -> str | None:
    """Media as the same text lines the telegram_web collector writes, so one rule reads both:
    `[link preview] site | title | description | url`, `[poll] question: a / b`, `[photo]`,
    `[location] <map link>`."""
    from telethon.tl import types

    if isinstance(media, types.MessageMediaWebPage) and isinstance(media.webpage, types.WebPage):
        w = media.webpage
        return "[link preview] " + " | ".join(
            p for p in (w.site_name, w.title, w.description, w.url) if p)
    if isinstance(media, types.MessageMediaPoll):
        answers = " / ".join(_plain(a.text) for a in media.poll.answers)
        return f"[poll] {_plain(media.poll.question)}: {answers}"
    if isinstance(media, types.MessageMediaPhoto):
        return "[photo]"
    if isinstance(media, types.MessageMediaGeo) and isinstance(media.geo, types.GeoPoint):
        return f"[location] https://maps.google.com/maps?q={media.geo.lat},{media.geo.long}"
    return None


def document_filename(doc: Any) -> str | None:
    from telethon.tl import types

    for attr in doc.attributes or []:
        if isinstance(attr, types.DocumentAttributeFilename):
            return attr.file_name
    return None


class TelegramCollector(Collector):
    platform = "telegram"

    def __init__(self, source: SourceConfig, config: Config, state_dir: Path, *,
                 client_factory: Callable[[], Any] | None = None) -> None:
        super().__init__(source)
        o, w = source.options, source.where
        if source.tor:
            raise ConfigError(f"{w}: tor = true is not supported for telegram sources (the "
                              "MTProto connection cannot be sent through the Tor proxy here); "
                              "use a telegram_web source with tor = true instead")
        channel = channel_name(require(o, "channel", str, w))
        if not channel:
            raise ConfigError(f"{w}: channel is empty")
        self.channel = channel
        self.batch_size = opt(o, "batch_size", int, 50, w)
        self.download_documents = opt(o, "download_documents", bool, True, w)
        self.max_bytes = max_item_bytes(source, config.network.max_response_mb)
        self.state_dir = state_dir
        if client_factory is None:
            api_id, api_hash = api_credentials(config, source.options | {"type": "telegram"})

            def client_factory() -> Any:
                return SHARED_CLIENTS.acquire(state_dir, api_id, api_hash)
        self._factory = client_factory
        self._client: Any = None

    async def _connect(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        client = self._client
        if not client.is_connected():
            try:
                await client.connect()
            except OSError as e:
                raise self.error(f"cannot connect to Telegram: {e}") from None
            secure_session_file(self.state_dir)
        if not await client.is_user_authorized():
            raise CollectorError(NOT_AUTHORIZED)
        return client

    async def _entity(self, client: Any, state: dict[str, Any]) -> Any:
        from telethon import errors
        from telethon.tl import types

        peer = state.get("peer")
        if isinstance(peer, dict) and "id" in peer and "access_hash" in peer and \
                peer.get("channel", self.channel) == self.channel:
            return types.InputPeerChannel(int(peer["id"]), int(peer["access_hash"]))
        try:
            entity = await client.get_input_entity(self.channel)
        except (errors.UsernameNotOccupiedError, errors.UsernameInvalidError, ValueError):
            raise self.error(f"Telegram has no public channel named {self.channel!r}") from None
        if not isinstance(entity, types.InputPeerChannel):
            raise self.error(f"{self.channel!r} is not a channel or supergroup "
                             f"({type(entity).__name__})")
        return entity

    async def collect(self, cursor: str | None) -> AsyncIterator[Batch]:
        from telethon import errors

        state = load_cursor(cursor, self.source.where)
        resolved_again = False
        try:
            client = await self._connect()
            while True:
                try:
                    async for batch in self._read(client, state, first_run=cursor is None):
                        state = load_cursor(batch.cursor, self.source.where)
                        yield batch
                    return
                except errors.ChannelInvalidError:
                    # An access hash belongs to the account that resolved it: after a re-login
                    # with another account the cached one is invalid, not the channel.
                    if resolved_again or not isinstance(state.get("peer"), dict):
                        raise
                    resolved_again = True
                    log.info("source %s: cached access hash of %r rejected; resolving the "
                             "username again", self.name, self.channel)
                    state = {k: v for k, v in state.items() if k != "peer"}
        except errors.FloodError as e:  # FloodWait, FloodPremiumWait and any other subclass
            seconds = getattr(e, "seconds", None)
            if seconds is None:
                raise self.error(f"Telegram error {type(e).__name__}: {e}") from None
            raise CollectorDeferred(
                f"{self.source.where}: Telegram asks to wait {seconds}s "
                f"({type(e).__name__}) before reading {self.channel!r} again; deferring this "
                "source", float(seconds)) from None
        except (errors.ChannelPrivateError, errors.ChannelInvalidError):
            raise self.error(f"channel {self.channel!r} is private or banned; it cannot be "
                             "read without joining") from None
        except errors.AuthKeyError:
            raise CollectorError(NOT_AUTHORIZED) from None
        except errors.RPCError as e:
            raise self.error(f"Telegram error {type(e).__name__}: {e}") from None

    async def _read(self, client: Any, state: dict[str, Any], *,
                    first_run: bool) -> AsyncIterator[Batch]:
        entity = await self._entity(client, state)
        peer = {"id": entity.channel_id, "access_hash": entity.access_hash,
                "channel": self.channel}
        last_id = state.get("last_id")
        if last_id is None:
            top = 0
            async for m in client.iter_messages(entity, limit=1):
                top = m.id
            if not self.source.backfill:
                yield Batch([], dump_cursor({"last_id": top, "peer": peer}), 0)
                return
            last_id = max(0, top - self.source.backfill)
        docs: list[Document] = []
        count = 0
        async for msg in client.iter_messages(entity, min_id=int(last_id), reverse=True):
            if msg.id <= int(last_id):
                continue  # defensive: min_id is exclusive, never repeat
            docs.extend(await self._documents(client, msg))
            count += 1
            last_id = msg.id
            if count >= self.batch_size:
                yield Batch(docs, dump_cursor({"last_id": last_id, "peer": peer}), count)
                docs, count = [], 0
        if docs or count or first_run or state.get("peer") != peer:
            yield Batch(docs, dump_cursor({"last_id": last_id, "peer": peer}), count)

    async def _documents(self, client: Any, msg: Any) -> list[Document]:
        from telethon.tl import types

        text = msg.message or ""
        links = message_links(msg)
        meta: dict[str, Any] = {"links": links, "channel": self.channel}
        if msg.views is not None:
            meta["views"] = msg.views
        if getattr(msg, "action", None) is not None:
            meta["service"] = type(msg.action).__name__
        ext_id = str(msg.id)
        doc = Document(
            source=self.name, platform=self.platform, external_id=ext_id,
            content=text.encode("utf-8"), url=f"https://t.me/{self.channel}/{msg.id}",
            author=msg.post_author, posted_at=msg.date, edited_at=msg.edit_date,
            forwarded_from=forward_origin(msg.fwd_from, getattr(msg, "forward", None)),
            metadata=meta,
        )
        docs = [doc]
        media = msg.media
        described = media_text(media)
        if described:
            doc.content = (text + "\n" + described).strip().encode("utf-8")
            if isinstance(media, types.MessageMediaWebPage) and getattr(media.webpage, "url",
                                                                         None):
                meta["links"] = merge_links(links, [media.webpage.url])
        if isinstance(media, types.MessageMediaDocument) and isinstance(media.document,
                                                                        types.Document):
            d = media.document
            name = document_filename(d) or f"document-{d.id}"
            meta["attachments"] = [{"name": name, "size": d.size, "mime_type": d.mime_type}]
            doc.content += f"\n[document] {name}".encode()
            wanted = is_attachment_name(name) or (d.mime_type or "").startswith(ATTACHMENT_MIME)
            if self.download_documents and wanted:
                docs.append(await self._download(client, msg, d, name, doc))
        return docs

    async def _download(self, client: Any, msg: Any, d: Any, name: str,
                        parent: Document) -> Document:
        buf = bytearray()
        truncated = False
        # Closed on the way out (cap reached, error): an abandoned download iterator would
        # keep its exported-sender connection to the file's data centre open.
        async with contextlib.aclosing(client.iter_download(d, file_size=d.size)) as chunks:
            async for chunk in chunks:
                room = self.max_bytes - len(buf)
                if len(chunk) > room:
                    buf.extend(chunk[:room])
                    truncated = True
                    break
                buf.extend(chunk)
        if not truncated and d.size and d.size > len(buf) and len(buf) >= self.max_bytes:
            truncated = True
        meta: dict[str, Any] = {"links": [], "size": d.size, "mime_type": d.mime_type,
                                **archive_context(parent, self.source.archive_passwords)}
        if truncated:
            meta["truncated"] = True
            meta["cap_bytes"] = self.max_bytes
        return Document(
            source=self.name, platform=self.platform, external_id=f"{msg.id}/doc/{d.id}",
            content=bytes(buf), url=parent.url, author=parent.author, filename=name,
            posted_at=parent.posted_at, parent_id=parent.external_id,
            forwarded_from=parent.forwarded_from, metadata=meta,
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and await SHARED_CLIENTS.release(client):
            await client.disconnect()


def build(source: SourceConfig, config: Config, state_dir: Path) -> TelegramCollector:
    return TelegramCollector(source, config, state_dir)


# -- `leakmon doctor` ---------------------------------------------------------------------------

LOGIN_FIX = "run `leakmon telegram login` as the user running leakmon"
CHECK_TIMEOUT = 20.0


def check_setup(config: Config, state_dir: Path,
                exclusive: Callable[[], AbstractContextManager[object]]) -> Iterator[Check]:
    """What doctor verifies once for all telegram sources: the session file holds an
    authorization key, and Telegram still accepts it.

    The login is asked only inside `exclusive()`, which raises LockBusyError while another
    leakmon process holds the state directory: two clients on one Telethon session file
    corrupt it, and the daemon's own client proves the login anyway.
    """
    session = session_path(state_dir)
    what = "telegram session"
    if not session.exists():
        yield Check("FAIL", what, f"{session} does not exist", LOGIN_FIX)
        return
    try:
        with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT auth_key FROM sessions LIMIT 1").fetchone()
    except sqlite3.Error as e:
        yield Check("FAIL", what, f"{session} is not a Telethon session: {e}", LOGIN_FIX)
        return
    if not row or not row[0]:
        yield Check("FAIL", what, f"{session} holds no authorization key", LOGIN_FIX)
        return
    yield Check("OK", what, f"{session} holds an authorization key")
    yield _check_login(config, state_dir, exclusive)


def _check_login(config: Config, state_dir: Path,
                 exclusive: Callable[[], AbstractContextManager[object]]) -> Check:
    what = "telegram login"
    try:
        with exclusive():
            api_id, api_hash = api_credentials(config)
            authorized = asyncio.run(session_authorized(state_dir, api_id, api_hash))
    except LockBusyError as e:
        return Check("WARN", what, f"not re-verified: {e}",
                     "see `leakmon status` for the telegram sources' last errors, or stop the "
                     "daemon and run doctor again")
    except LeakmonError as e:
        return Check("FAIL", what, str(e), "set api_id/api_hash (see config.example.toml)")
    except (OSError, TimeoutError) as e:
        return Check("FAIL", what, f"cannot reach Telegram to verify the session: "
                     f"{type(e).__name__}: {e}", "check the network / firewall (TCP 443)")
    if authorized:
        return Check("OK", what, "Telegram says the session is authorized")
    return Check("FAIL", what, "Telegram says the session is NOT authorized (logged out or "
                 "revoked)", LOGIN_FIX)


async def session_authorized(state_dir: Path, api_id: int, api_hash: str,
                             timeout: float = CHECK_TIMEOUT) -> bool:
    """Ask Telegram whether the session is still logged in (never prompts, one try)."""
    client = make_telegram_client(state_dir, api_id, api_hash, connection_retries=1,
                                  retry_delay=0, timeout=10, receive_updates=False)
    try:
        await asyncio.wait_for(client.connect(), timeout)
        return bool(await asyncio.wait_for(client.is_user_authorized(), timeout))
    finally:
        await client.disconnect()
