"""`type = "syslog"`: RFC 5424 messages over UDP (RFC 5426), TCP with octet-counting framing
(RFC 6587) or TLS (RFC 5425), optionally carrying a CEF payload for ArcSight-style SIEMs.

Syslog has no answer: "sent" means the datagram left, or the TCP/TLS peer took the bytes.
A connection is opened per delivery (alerts are rare; no half-dead connection to manage).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from datetime import UTC, datetime
from typing import Unpack

from monitor import __version__
from monitor.alerting.sinks import format as fmt
from monitor.alerting.sinks.base import (
    CommonOptions,
    Sink,
    SinkDeliveryError,
    SinkOptions,
    TableReader,
)
from monitor.config import Config
from monitor.models import Check, Notification

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13,
    "console": 14, "solaris-cron": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}
DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}
# RFC 5424 SD-IDs of our own are "name@<private enterprise number>" (IANA PEN). 32473 is the
# number RFC 5612 reserves for documentation: the default until the operator sets the PEN of
# the organization (theirs or their MSSP's) with `enterprise_number`; a warning says so.
DOCUMENTATION_PEN = 32473
SD_NAME = "leakmon"
# RFC 5424 6.4: a MSG in UTF-8 starts with the byte order mark.
BOM = b"\xef\xbb\xbf"
MAX_UDP_BYTES = 8192  # longer datagrams are truncated (many relays drop bigger ones)
NILVALUE = "-"

log = logging.getLogger(__name__)


def _printable(value: str, limit: int) -> str:
    """RFC 5424 header fields: printable US-ASCII without spaces, bounded length."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return cleaned or NILVALUE


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def cef_header_escape(value: str) -> str:
    return " ".join(value.replace("\\", "\\\\").replace("|", "\\|").split())


def cef_ext_escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r"))


def cef_message(n: Notification) -> str:
    """`CEF:0|leakmon|leakmon|VERSION|rule id|title|0-10|extension` with CEF escaping."""
    header = "|".join([
        "CEF:0", "leakmon", "leakmon", cef_header_escape(__version__),
        cef_header_escape(n.rule_id or n.event), cef_header_escape(fmt.subject(n)),
        str(fmt.severity_value(fmt.CEF_SEVERITY, n.severity)),
    ])
    ext: list[tuple[str, str | None]] = [
        ("rt", fmt.epoch_ms(n.created_at)),
        ("cat", n.event),
        ("msg", n.reason),
        ("externalId", str(n.incident_id) if n.incident_id is not None else None),
        ("request", n.url),
        ("start", fmt.epoch_ms(n.first_seen)),
        ("end", fmt.epoch_ms(n.last_seen)),
        ("cs1Label", "dedupKey"), ("cs1", n.dedup_key),
        ("cs2Label", "platform"), ("cs2", n.platform),
        ("cs3Label", "recordIds"), ("cs3", ",".join(n.record_ids[:fmt.RECORD_IDS_MAX])),
        ("cs4Label", "canary"), ("cs4", "true" if n.canary else "false"),
        ("cs5Label", "link"), ("cs5", n.link),
        ("cs6Label", "idempotencyKey"), ("cs6", n.idempotency_key),
        ("cn1Label", "sightings"), ("cn1", str(n.sightings)),
        ("cn2Label", "recordCount"), ("cn2", str(n.record_count)),
        ("cfp1Label", "confidence"), ("cfp1", f"{n.confidence:.2f}"),
    ]
    return header + "|" + " ".join(f"{k}={cef_ext_escape(v)}" for k, v in ext if v)


class SyslogSink(Sink):
    kind = "syslog"
    keys = ("host", "port", "protocol", "facility", "app_name", "hostname", "format",
            "ca_file", "verify", "timeout", "enterprise_number")

    def __init__(self, name: str, *, host: str, port: int | None = None,
                 protocol: str = "udp", facility: str = "local0", app_name: str = "leakmon",
                 hostname: str | None = None, message_format: str = "rfc5424",
                 ca_file: str | None = None, verify: bool = True, timeout: float = 5.0,
                 enterprise_number: int = DOCUMENTATION_PEN, **common: Unpack[SinkOptions]) -> None:
        super().__init__(name, **common)
        self.sd_id = f"{SD_NAME}@{enterprise_number}"
        if enterprise_number == DOCUMENTATION_PEN:
            log.warning("sink %r: SD-ID %s uses enterprise number %d, reserved for "
                        "documentation (RFC 5612); set enterprise_number to your IANA private "
                        "enterprise number", name, self.sd_id, DOCUMENTATION_PEN)
        self.host = host
        self.protocol = protocol
        self.port = port or DEFAULT_PORTS[protocol]
        self.facility = FACILITIES[facility]
        self.app_name = _printable(app_name, 48)
        self.hostname = _printable(hostname or socket.gethostname(), 255)
        self.message_format = message_format
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if protocol == "tls":
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if not verify:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> Sink:
        protocol = table.choice("protocol", tuple(DEFAULT_PORTS), "udp")
        ca_file = table.string("ca_file")
        if ca_file is not None:
            ca_path = config.resolve(ca_file)
            if not ca_path.is_file():
                raise table.error("ca_file", f"{ca_path} is not a file")
            ca_file = str(ca_path)
        if ca_file and protocol != "tls":
            raise table.error("ca_file", "only used with protocol = \"tls\"")
        try:
            return cls(
                host=table.string("host", required=True) or "",
                port=table.integer("port", None, lo=1, hi=65535),
                protocol=protocol,
                facility=table.choice("facility", tuple(FACILITIES), "local0"),
                app_name=table.string("app_name", "leakmon"),
                hostname=table.string("hostname"),
                message_format=table.choice("format", ("rfc5424", "cef"), "rfc5424"),
                ca_file=ca_file,
                verify=table.boolean("verify", True),
                timeout=table.number("timeout", 5.0, minimum=0.1),
                enterprise_number=table.integer("enterprise_number", DOCUMENTATION_PEN,
                                                lo=1, hi=2**31 - 1),
                **common,
            )
        except ssl.SSLError as e:
            raise table.error("ca_file", f"cannot load CA certificates: {e}") from None

    def describe(self) -> str:
        return f"syslog+{self.protocol}://{self.host}:{self.port} ({self.message_format})"

    @property
    def endpoint(self) -> tuple[str, int] | None:
        return None if self.protocol == "udp" else (self.host, self.port)

    def check(self) -> Check:
        """TCP/TLS: the collector accepts connections; UDP: the host name resolves (a
        datagram is never answered)."""
        if self.protocol != "udp":
            return self.connect_check(f"syslog {self.protocol}",
                                      "check the collector host/port and the firewall")
        what = f"sink {self.name}"
        try:
            socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except OSError as e:
            return Check("FAIL", what, f"syslog udp: cannot resolve {self.host}: {e}",
                         "fix host")
        return Check("OK", what, f"syslog udp {self.host}:{self.port} (UDP: not verifiable)")

    # -- framing ---------------------------------------------------------------------------

    def frame(self, n: Notification, *, now: datetime | None = None) -> bytes:
        """One RFC 5424 message for `n` (no transport framing)."""
        pri = self.facility * 8 + fmt.severity_value(fmt.SYSLOG_SEVERITY, n.severity)
        stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        stamp = stamp.replace("+00:00", "Z")
        params = {
            "event": n.event, "severity": n.severity, "rule": n.rule_id,
            "incident": "" if n.incident_id is None else str(n.incident_id),
            "dedup": n.dedup_key, "key": n.idempotency_key, "sightings": str(n.sightings),
            "records": str(n.record_count), "canary": "true" if n.canary else "false",
            "confidence": f"{n.confidence:.2f}",
        }
        sd = "[" + self.sd_id + "".join(
            f' {k}="{_sd_escape(v)}"' for k, v in params.items() if v != ""
        ) + "]"
        header = (f"<{pri}>1 {stamp} {self.hostname} {self.app_name} {os.getpid()} "
                  f"{_printable(n.event, 32)} {sd} ").encode()
        if self.message_format == "cef":
            # CEF parsers expect "CEF:0|" first: sent as MSG-ANY (RFC 5424 6.4), no BOM
            return header + " ".join(cef_message(n).split()).encode()
        return header + BOM + " ".join(fmt.summary(n).split()).encode()

    # -- transport -------------------------------------------------------------------------

    def send(self, n: Notification) -> str:
        return self._transmit([self.frame(n)])

    def send_digest(self, notifications: list[Notification]) -> str:
        # SIEMs correlate per event; one connection carries them all.
        return self._transmit([self.frame(n) for n in notifications])

    def _transmit(self, frames: list[bytes]) -> str:
        target = f"{self.host}:{self.port}"
        try:
            send = self._send_udp if self.protocol == "udp" else self._send_stream
            total = send(frames)
        except (OSError, ssl.SSLError) as e:
            reason = e.strerror or str(e)
            raise SinkDeliveryError(
                f"sink {self.name!r}: syslog over {self.protocol} to {target} failed: "
                f"{type(e).__name__}: {reason}"[:500]
            ) from None
        return f"sent {len(frames)} message(s), {total} bytes over {self.protocol} to {target}"

    def _send_udp(self, frames: list[bytes]) -> int:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        family, _, _, _, addr = infos[0]
        total = 0
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self.timeout)
            for data in frames:
                data = data[:MAX_UDP_BYTES]
                sock.sendto(data, addr)
                total += len(data)
        return total

    def _send_stream(self, frames: list[bytes]) -> int:
        # RFC 6587 octet counting: "MSG-LEN SP SYSLOG-MSG", the framing RFC 5425 uses too.
        payload = b"".join(str(len(f)).encode() + b" " + f for f in frames)
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as raw:
            if self._ssl is not None:
                with self._ssl.wrap_socket(raw, server_hostname=self.host) as tls:
                    tls.sendall(payload)
            else:
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
        return len(payload)
