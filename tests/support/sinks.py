"""Real receivers on 127.0.0.1 for the sink and delivery tests: a webhook endpoint that checks
signatures and de-duplicates on Idempotency-Key, a TheHive-shaped API, syslog listeners (UDP,
TCP and TLS with RFC 6587 octet counting) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import socketserver
import ssl
import threading
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.http import JsonApiServer, QuietHandler
from tests.support.net import LOOPBACK, free_port

# -- webhook -----------------------------------------------------------------------------------


@dataclass
class WebhookDelivery:
    key: str
    signature_ok: bool
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        """X-Leakmon-Event: "new", "escalated"... or "operator" (source health)."""
        return self.headers.get("x-leakmon-event", "")

    @property
    def notification(self) -> dict[str, Any]:
        return self.json.get("notification", {})


class _WebhookHandler(QuietHandler):
    def do_POST(self) -> None:
        owner: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        body = self._body()
        status = owner.next_status()
        if status >= 300:
            self._reply(status, {"error": "unavailable"}, owner.error_headers)
            return
        expected = "sha256=" + hmac.new(owner.secret, body, hashlib.sha256).hexdigest()
        sigs = self.headers.get("X-Leakmon-Signature", "").split(",")  # several: rotation
        delivery = WebhookDelivery(
            key=self.headers.get("Idempotency-Key", ""),
            signature_ok=any(hmac.compare_digest(expected, sig) for sig in sigs), body=body,
            headers={k.lower(): v for k, v in self.headers.items()})
        with owner.lock:
            owner.requests.append(delivery)
            duplicate = any(d.key == delivery.key for d in owner.accepted)
            if delivery.signature_ok and not duplicate:
                owner.accepted.append(delivery)
            kill_file = owner.kill_pid_file
        if kill_file is not None:
            # Stand-in for a crash while the request is in flight: the sender dies before it
            # can read the answer (and so before it can mark the item sent).
            os.kill(int(Path(kill_file).read_text()), signal.SIGKILL)
        if not delivery.signature_ok:
            self._reply(401, {"error": "bad signature"})
        else:
            self._reply(200, {"duplicate": duplicate})


class WebhookReceiver(JsonApiServer):
    """Accepts signed POSTs; `accepted` holds one delivery per Idempotency-Key (the receiver's
    de-duplication), `requests` every POST that got through (duplicates included)."""

    handler = _WebhookHandler

    def __init__(self, secret: str, port: int = 0) -> None:
        super().__init__(port)
        self.secret = secret.encode()
        self.lock = threading.Lock()
        self.requests: list[WebhookDelivery] = []
        self.accepted: list[WebhookDelivery] = []
        self.statuses: list[int] = []  # answers to give before accepting (e.g. [503, 503])
        self.error_headers: dict[str, str] = {}
        self.kill_pid_file: Path | None = None  # SIGKILL the pid written there

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def alerts(self) -> list[WebhookDelivery]:
        """The deliveries that are alerts (operator messages left out), duplicates included."""
        with self.lock:
            return [d for d in self.requests if d.event != "operator"]


# -- TheHive -----------------------------------------------------------------------------------


def typed_dict_problems(schema: type, body: Any, where: str = "") -> list[str]:
    """What in `body` breaks thehive4py's TypedDict `schema` (unknown or missing keys, wrong
    types), the way TheHive's input validation answers 400."""
    hints = typing.get_type_hints(schema)
    if not isinstance(body, dict):
        return [f"{where or 'body'}: not an object"]
    problems = [f"{where}{k}: unknown field" for k in body if k not in hints]
    problems += [f"{where}{k}: missing" for k in schema.__required_keys__ if k not in body]
    for key, value in body.items():
        if key in hints:
            problems += _type_problems(hints[key], value, f"{where}{key}")
    return problems


def _type_problems(hint: Any, value: Any, where: str) -> list[str]:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        options = [_type_problems(h, value, where) for h in typing.get_args(hint)]
        return [] if any(not o for o in options) else options[0]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in _type_problems(item, v, f"{where}[{i}]")]
    if typing.is_typeddict(hint):
        return typed_dict_problems(hint, value, where + ".")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        return [f"{where}: expected an integer"]
    if hint in (str, bool, dict) and not isinstance(value, hint):
        return [f"{where}: expected {hint.__name__}"]
    return []


def thehive_input_problems(kind: str, body: Any) -> list[str]:
    """thehive4py 2.x's input schemas plus TheHive's value ranges (severity 1-4, tlp 0-4,
    pap 0-3)."""
    from thehive4py.types.alert import InputAlert, InputUpdateAlert
    from thehive4py.types.observable import InputObservable

    schema = {"alert": InputAlert, "update": InputUpdateAlert, "observable": InputObservable}
    problems = typed_dict_problems(schema[kind], body)
    for key, lo, hi in (("severity", 1, 4), ("tlp", 0, 4), ("pap", 0, 3)):
        value = body.get(key) if isinstance(body, dict) else None
        if isinstance(value, int) and not lo <= value <= hi:
            problems.append(f"{key}: {value} is not between {lo} and {hi}")
    return problems


class _TheHiveHandler(QuietHandler):
    def _invalid(self, kind: str, body: Any) -> bool:
        problems = thehive_input_problems(kind, body)
        if problems:
            owner: TheHiveServer = self.server.owner  # type: ignore[attr-defined]
            owner.rejected.append((kind, problems))
            self._reply(400, {"type": "BadRequest", "message": "; ".join(problems)})
        return bool(problems)

    def _authorized(self) -> bool:
        owner: TheHiveServer = self.server.owner  # type: ignore[attr-defined]
        if self.headers.get("Authorization") != f"Bearer {owner.api_key}":
            self._reply(401, {"type": "AuthenticationError", "message": "Authentication failure"})
            return False
        return True

    def do_POST(self) -> None:
        owner: TheHiveServer = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self._body() or b"{}")
        if not self._authorized():
            return
        path = self.path.split("?")[0]
        with owner.lock:
            owner.calls.append(("POST", path, body))
            if path == "/api/v1/alert":
                if self._invalid("alert", body) or any(
                        self._invalid("observable", o) for o in body.get("observables", [])):
                    return
                if any(a["sourceRef"] == body.get("sourceRef") and a["source"] == body["source"]
                       for a in owner.alerts.values()):
                    self._reply(400, {"type": "CreateError", "message": "Alert already exists"})
                    return
                alert_id = f"~{next(owner.ids)}"
                owner.alerts[alert_id] = {**body, "_id": alert_id, "observables": list(
                    body.get("observables", []))}
                self._reply(201, owner.alerts[alert_id])
            elif path == "/api/v1/query":
                flt = next(q for q in body["query"] if q["_name"] == "filter")
                conds = {c["_field"]: c["_value"] for c in flt["_and"]}
                found = [a for a in owner.alerts.values()
                         if all(a.get(k) == v for k, v in conds.items())]
                self._reply(200, found)
            elif m := re.fullmatch(r"/api/v1/alert/(~\d+)/observable", path):
                if self._invalid("observable", body):
                    return
                alert = owner.alerts[m.group(1)]
                if any(o["data"] == body["data"] for o in alert["observables"]):
                    self._reply(400, {"type": "CreateError", "message": "Observable exists"})
                    return
                alert["observables"].append(body)
                self._reply(201, [body])
            else:
                self._reply(404, {"type": "NotFoundError"})

    def do_PATCH(self) -> None:
        owner: TheHiveServer = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self._body() or b"{}")
        if not self._authorized():
            return
        m = re.fullmatch(r"/api/v1/alert/(~\d+)", self.path)
        with owner.lock:
            owner.calls.append(("PATCH", self.path, body))
            if not m or m.group(1) not in owner.alerts:
                self._reply(404, {"type": "NotFoundError"})
                return
            if self._invalid("update", body):
                return
            owner.alerts[m.group(1)].update(body)
        self._reply(204)

    def do_GET(self) -> None:
        owner: TheHiveServer = self.server.owner  # type: ignore[attr-defined]
        if not self._authorized():
            return
        m = re.fullmatch(r"/api/v1/alert/(~\d+)", self.path)
        with owner.lock:
            owner.calls.append(("GET", self.path, None))
            alert = owner.alerts.get(m.group(1)) if m else None
            if alert is None:
                self._reply(404, {"type": "NotFoundError"})
                return
            self._reply(200, {k: v for k, v in alert.items() if k != "observables"})

    def do_DELETE(self) -> None:
        owner: TheHiveServer = self.server.owner  # type: ignore[attr-defined]
        if not self._authorized():
            return
        m = re.fullmatch(r"/api/v1/alert/(~\d+)", self.path)
        with owner.lock:
            owner.calls.append(("DELETE", self.path, None))
            if not m or owner.alerts.pop(m.group(1), None) is None:
                self._reply(404, {"type": "NotFoundError"})
                return
        self._reply(204)


class TheHiveServer(JsonApiServer):
    """Just enough of TheHive 5's alert API: create (unique type+source+sourceRef), query by
    field, update, add observable."""

    handler = _TheHiveHandler

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.lock = threading.Lock()
        self.ids = itertools.count(4096)
        self.alerts: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.rejected: list[tuple[str, list[str]]] = []  # bodies refused by the schemas


# -- syslog ------------------------------------------------------------------------------------

SYSLOG_RE = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    r"(?P<msgid>\S+) (?P<sd>-|\[(?:[^\]\\]|\\.)*\](?:\[(?:[^\]\\]|\\.)*\])*) (?P<msg>.*)$", re.S)
SD_PARAM_RE = re.compile(r'(\S+?)="((?:[^"\\]|\\.)*)"')


@dataclass
class SyslogMessage:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: dict[str, str]
    msg: str
    sd_id: str = ""
    bom: bool = False  # the MSG started with the UTF-8 BOM (RFC 5424 MSG-UTF8)

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8


def parse_rfc5424(frame: bytes) -> SyslogMessage:
    m = SYSLOG_RE.match(frame.decode("utf-8"))
    if not m:
        raise AssertionError(f"not an RFC 5424 message: {frame[:200]!r}")
    sd = {k: re.sub(r"\\(.)", r"\1", v) for k, v in SD_PARAM_RE.findall(m.group("sd"))}
    msg = m.group("msg")
    sd_id = m.group("sd")[1:].split(" ", 1)[0].rstrip("]")
    return SyslogMessage(int(m.group("pri")), m.group("ts"), m.group("host"), m.group("app"),
                         m.group("procid"), m.group("msgid"), sd, msg.removeprefix("\ufeff"),
                         sd_id, msg.startswith("\ufeff"))


def split_octet_counted(data: bytes) -> list[bytes]:
    """RFC 6587 octet counting: 'LEN SP MSG' repeated; AssertionError on a bad frame."""
    frames, i = [], 0
    while i < len(data):
        sp = data.index(b" ", i)
        length = int(data[i:sp])
        frames.append(data[sp + 1: sp + 1 + length])
        assert len(frames[-1]) == length, "truncated frame"
        i = sp + 1 + length
    return frames


@dataclass
class SyslogListener:
    """UDP, TCP or TLS syslog on 127.0.0.1; `messages` are parsed RFC 5424 messages."""

    protocol: str = "udp"
    certfile: Path | None = None
    keyfile: Path | None = None
    messages: list[SyslogMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cond = threading.Condition()
        listener = self

        class UDP(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                listener._add([self.request[0]])

        class TCP(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                conn = self.request
                if listener.protocol == "tls":
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(listener.certfile, listener.keyfile)
                    conn = ctx.wrap_socket(conn, server_side=True)
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                listener._add(split_octet_counted(b"".join(chunks)))

        if self.protocol == "udp":
            self.server: socketserver.BaseServer = socketserver.ThreadingUDPServer(
                (LOOPBACK, 0), UDP)
        else:
            self.server = socketserver.ThreadingTCPServer((LOOPBACK, 0), TCP)
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]  # type: ignore[attr-defined]

    def _add(self, frames: list[bytes]) -> None:
        with self.cond:
            self.raw.extend(frames)
            self.messages.extend(parse_rfc5424(f) for f in frames)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SyslogMessage]:
        """Block until `count` messages arrived (a UDP datagram lands after sendto returns)."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- SMTP --------------------------------------------------------------------------------------


class SmtpServer:
    """aiosmtpd on 127.0.0.1; `messages` holds (envelope recipients, raw message bytes)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname=LOOPBACK, port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# -- a realistic notification ------------------------------------------------------------------


def make_notification(**overrides: Any):
    """A 'new incident' notification as the pipeline would enqueue it (ids only, no values)."""
    from monitor.alerting.notification import Notification

    values: dict[str, Any] = dict(
        idempotency_key="inc-12:new", event="new", reason="new incident", incident_id=12,
        dedup_key="sha256:5f1c0ffee", title="Our patient records in a paste",
        severity="critical", confidence=0.93, rule_id="patients.records",
        rule_title="Our patient records", created_at="2026-11-28T10:00:00+00:00",
        tags=["pii", "health"], platform="pastebin", source="pastebin-scrape",
        url="https://pastebin.com/raw/Ab12Cd34", first_seen="2026-11-28T09:58:00+00:00",
        last_seen="2026-11-28T09:59:30+00:00", sightings=2, sites=["pastebin.com", "t.me"],
        record_count=153, record_ids=[f"p-{i}" for i in range(1, 31)], canary=False,
        excerpt="id;nir;nom\n1;2 ** ** ** *** *** **;D*** | fuite base patients",
        link="leakmon alerts show 12",
    )
    values.update(overrides)
    return Notification(**values)
