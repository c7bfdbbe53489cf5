"""The `Sink` contract, its config reader, and `build_sinks` for the `[[sinks]]` tables.

A sink is one place a SOC already watches (a chat channel, a SIEM, a case tracker). It knows
nothing of sources or rules beyond what a `Notification` carries. `send` returns a short detail
of what the receiver answered (kept in the outbox) and raises `SinkError` on failure; the
delivery worker decides about retries from `SinkDeliveryError.retryable`.

Secrets never reach logs: config values may be `env:VARNAME` so tokens stay out of the file,
and `describe()` (what logs and `sinks list` show) masks URL credentials, paths and queries.
"""

from __future__ import annotations

import fnmatch
import importlib
import urllib.parse
from collections.abc import Sequence
from typing import Any, ClassVar, TypedDict

from monitor.config import Config, parse_duration
from monitor.errors import ConfigError, SinkError
from monitor.models import SEVERITIES, Check, Notification, severity_rank
from monitor.net import connect_problem
from monitor.tables import Table

# Events that are about leakmon itself (source health, `sinks test`): rule and tag filters do
# not apply to them, only min_severity does.
OPERATOR_EVENTS = frozenset({"operator", "test"})

COMMON_KEYS = ("name", "type", "min_severity", "rules", "tags", "digest")

# type -> "module:Class", imported on first use so that an unused kind (apprise is slow to
# import) costs nothing.
SINK_KINDS: dict[str, str] = {
    "apprise": "monitor.alerting.sinks.apprise_sink:AppriseSink",
    "webhook": "monitor.alerting.sinks.webhook:WebhookSink",
    "jsonl": "monitor.alerting.sinks.jsonl:JsonlSink",
    "syslog": "monitor.alerting.sinks.syslog_sink:SyslogSink",
    "thehive": "monitor.alerting.sinks.thehive:TheHiveSink",
    "misp": "monitor.alerting.sinks.misp:MispSink",
}


class SinkDeliveryError(SinkError):
    """A failed delivery, with what the delivery worker needs to schedule the next try.

    `retryable=False` (e.g. HTTP 400/401/404) means trying again cannot help: the outbox item
    goes dead at once with this message kept. `retry_after` (seconds) honours a receiver's
    Retry-After.
    """

    def __init__(self, message: str, *, retryable: bool = True,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class SinkOptions(TypedDict, total=False):
    """The COMMON_KEYS every sink kind takes, parsed: `Sink.__init__`'s keywords."""

    min_severity: str
    rules: Sequence[str]
    tags: Sequence[str]
    digest: float | None


class CommonOptions(SinkOptions):
    """What `from_table` gets: the sink's name and its parsed COMMON_KEYS."""

    name: str


class Sink:
    """Base class of every sink kind. Subclasses set `kind` and implement `send`."""

    kind: ClassVar[str] = ""
    # Keys a kind reads besides COMMON_KEYS; unknown keys are a config error.
    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, *, min_severity: str = "info",
                 rules: Sequence[str] = (), tags: Sequence[str] = (),
                 digest: float | None = None) -> None:
        self.name = name
        self.min_severity = min_severity
        self.rules = tuple(rules)
        self.tags = tuple(tags)
        self.digest = digest  # minutes between summaries, or None: one message per event

    # -- filtering -------------------------------------------------------------------------

    def accepts(self, n: Notification) -> bool:
        """Whether this sink wants `n`: severity at least min_severity, and for alert events
        the rule id and tags matching the optional glob filters."""
        try:
            if severity_rank(n.severity) < severity_rank(self.min_severity):
                return False
        except ValueError:
            pass  # an unknown severity is delivered rather than silently dropped
        if n.event in OPERATOR_EVENTS:
            return True
        if self.rules and not any(fnmatch.fnmatchcase(n.rule_id, p) for p in self.rules):
            return False
        return not self.tags or any(
            fnmatch.fnmatchcase(t, p) for t in n.tags for p in self.tags
        )

    # -- delivery --------------------------------------------------------------------------

    def send(self, n: Notification) -> str:
        """Deliver one notification; return what the receiver answered; raise SinkError."""
        raise NotImplementedError

    def send_digest(self, notifications: list[Notification]) -> str:
        """Deliver several notifications as one summary. The default sends each in turn
        (structured sinks: one record per event); text sinks override it with one message."""
        details = [self.send(n) for n in notifications]
        return f"{len(details)} event(s): {details[-1]}" if details else "nothing to send"

    def describe(self) -> str:
        """Where this sink delivers, safe to log (no credentials, tokens or URL paths)."""
        return self.kind

    @property
    def endpoint(self) -> tuple[str, int] | None:
        """(host, TCP port) a health check may try to connect to; None when there is no
        single TCP endpoint (files, UDP, Apprise's many services)."""
        return None

    def check(self) -> Check:
        """What `leakmon doctor` reports about this sink, without sending anything: a TCP
        connect to `endpoint` when there is one. Kinds with other needs override it."""
        return self.connect_check(self.kind)

    def connect_check(self, label: str,
                      fix: str = "check the URL and the firewall; alerts wait in the outbox "
                                 "meanwhile") -> Check:
        """A TCP connect to `endpoint`, reported as `label: ...`; OK "configured" when the
        sink has no endpoint."""
        what = f"sink {self.name}"
        endpoint = self.endpoint
        if endpoint is None:
            return Check("OK", what, f"{label}: configured")
        host, port = endpoint
        problem = connect_problem(host, port)
        if problem:
            return Check("FAIL", what, f"{label}: {problem}", fix)
        return Check("OK", what, f"{label}: {host}:{port} accepts connections")

    def close(self) -> None:
        """Release connections and files; the sink is not used afterwards."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} -> {self.describe()}>"

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> Sink:
        """Build from one `[[sinks]]` table; `common` holds the parsed COMMON_KEYS."""
        raise NotImplementedError


class UrlSink(Sink):
    """A sink that delivers to one URL (`self.url`): described and health-checked by it."""

    url: str

    def describe(self) -> str:
        return mask_url(self.url)

    @property
    def endpoint(self) -> tuple[str, int] | None:
        return url_endpoint(self.url)

    @staticmethod
    def read_url(table: TableReader, key: str = "url", *, secret: bool = False) -> str:
        """The sink's http(s) URL from `key` (through `env:` when `secret`)."""
        url = (table.secret(key, required=True) if secret
               else table.string(key, required=True)) or ""
        if not url.startswith(("http://", "https://")):
            raise table.error(key, "must start with http:// or https://")
        return url

    @staticmethod
    def read_verify(table: TableReader, config: Config) -> bool | str:
        """`verify`: true/false, or a CA bundle path resolved against the config's folder."""
        verify = table.get("verify", (bool, str), True)
        return str(config.resolve(verify)) if isinstance(verify, str) else verify


# One `[[sinks]]` table: the shared typed-table reader, in its default wording
# ("sink 'x': port: must be between 1 and 65535, got 70000").
TableReader = Table


def mask_url(url: str) -> str:
    """scheme://host[:port] plus `/…` when there was a path or query: webhook URLs often carry
    their token in the path (Slack, Teams) and credentials in the userinfo."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def url_endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, the scheme's default port if none is given."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname and port else None


def _parse_common(reader: TableReader, name: str) -> CommonOptions:
    min_sev = reader.choice("min_severity", SEVERITIES, "info")
    digest_raw = reader.get("digest", (int, float, str), None)
    digest: float | None = None
    if digest_raw is not None:
        if isinstance(digest_raw, str):
            digest = parse_duration(digest_raw, where=f"{reader.where}: digest") / 60.0
        else:
            digest = float(digest_raw)  # plain numbers are minutes
        if digest <= 0:
            raise reader.error("digest", "must be a positive number of minutes, e.g. 15 or '1h'")
    return {
        "name": name,
        "min_severity": min_sev,
        "rules": reader.strings("rules"),
        "tags": reader.strings("tags"),
        "digest": digest,
    }


def sink_class(kind: str) -> type[Sink]:
    """The class for a sink `type`; KeyError when unknown."""
    module_name, _, cls_name = SINK_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def build_sink(table: dict[str, Any], config: Config) -> Sink:
    """Validate one `[[sinks]]` table and build its sink."""
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("[[sinks]]: a sink has no name")
    where = f"sink {name!r}"
    kind = table.get("type")
    if kind not in SINK_KINDS:
        raise ConfigError(
            f"{where}: type: {kind!r} is not a sink type; expected one of {', '.join(SINK_KINDS)}"
        )
    cls = sink_class(kind)
    reader = TableReader(table, where)
    reader.check_keys((*COMMON_KEYS, *cls.keys))
    return cls.from_table(reader, config, _parse_common(reader, name))


def build_sinks(tables: list[dict[str, Any]], config: Config) -> list[Sink]:
    """Every configured sink, or ConfigError naming the first sink and key that is wrong.

    Nothing is contacted here: a receiver that is down at start-up must not stop the daemon;
    the outbox keeps its alerts until it is back.
    """
    sinks: list[Sink] = []
    seen: set[str] = set()
    try:
        for table in tables:
            sink = build_sink(table, config)
            if sink.name in seen:
                raise ConfigError(f"sink {sink.name!r}: duplicate sink name")
            seen.add(sink.name)
            sinks.append(sink)
    except BaseException:
        for s in sinks:
            s.close()
        raise
    return sinks
