"""`type = "apprise"`: Slack, Teams, e-mail, PagerDuty, Opsgenie, Mattermost, Discord, ntfy…
through the Apprise library (its URL syntax: https://github.com/caronc/apprise/wiki).

Apprise's `notify` result says yes or no; the warnings Apprise logged during the call tell the
operator why. Secrets found in the configured URLs are scrubbed from that text first.
"""

from __future__ import annotations

import logging
import re
from typing import Unpack

import apprise

from monitor.alerting.sinks import format as fmt
from monitor.alerting.sinks.base import (
    CommonOptions,
    Sink,
    SinkDeliveryError,
    SinkOptions,
    TableReader,
)
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import Check, Notification
from monitor.tables import resolve_secret

_NOTIFY_TYPE = {
    "info": apprise.NotifyType.INFO,
    "low": apprise.NotifyType.INFO,
    "medium": apprise.NotifyType.WARNING,
    "high": apprise.NotifyType.FAILURE,
    "critical": apprise.NotifyType.FAILURE,
}
_TOKEN_SPLIT = re.compile(r"[/:@?&=#,+]+")


class AppriseSink(Sink):
    kind = "apprise"
    keys = ("urls",)

    def __init__(self, name: str, urls: list[str], **common: Unpack[SinkOptions]) -> None:
        super().__init__(name, **common)
        self._apprise = apprise.Apprise()
        self._masked: list[str] = []
        self._secrets: set[str] = set()
        for i, url in enumerate(urls, 1):
            with apprise.LogCapture(level=logging.WARNING) as captured:
                added = self._apprise.add(url)
                log_text = captured.getvalue()
            if not added:
                # Apprise's log says why (e.g. "Invalid ~From~ email specified"); it masks
                # URLs itself, and short tokens are scrubbed below as for delivery errors.
                self._secrets |= _secret_tokens(url, "")
                why = self._scrub(_log_lines(log_text)) or "unknown scheme or bad syntax"
                raise ConfigError(
                    f"sink {name!r}: urls[{i}]: Apprise cannot use this "
                    f"{url.split(':', 1)[0]!r} URL: {why[:300]}; see the Apprise wiki for "
                    "its syntax"
                )
            masked = self._apprise[len(self._apprise) - 1].url(privacy=True)
            self._masked.append(masked.split("?", 1)[0])  # the query is mostly defaults
            self._secrets |= _secret_tokens(url, masked)

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> Sink:
        urls = table.strings("urls")
        if not urls:
            raise table.error("urls", "give at least one Apprise URL")
        resolved = [resolve_secret(u, where=f"{table.where}: urls[{i}]")
                    for i, u in enumerate(urls, 1)]
        return cls(urls=resolved, **common)

    def describe(self) -> str:
        return ", ".join(self._masked)

    def check(self) -> Check:
        """Apprise URLs name many services: they parsed when the sink was built; a test
        message is the only real proof."""
        return Check("OK", f"sink {self.name}", f"apprise URLs parse ({self.describe()}); "
                     "send one with `leakmon sinks test`")

    def send(self, n: Notification) -> str:
        return self._notify(fmt.subject(n), fmt.chat_html(n),
                            _NOTIFY_TYPE.get(n.severity, apprise.NotifyType.WARNING),
                            apprise.NotifyFormat.HTML)

    def send_digest(self, notifications: list[Notification]) -> str:
        worst = max(notifications, key=lambda n: fmt.ECS_SEVERITY.get(n.severity, 0))
        return self._notify(fmt.digest_subject(notifications), fmt.digest_body(notifications),
                            _NOTIFY_TYPE.get(worst.severity, apprise.NotifyType.WARNING),
                            apprise.NotifyFormat.TEXT)

    def _notify(self, title: str, body: str, notify_type: apprise.NotifyType,
                body_format: apprise.NotifyFormat) -> str:
        # body_format tells Apprise what the body is, so that it converts it for each service
        # (an e-mail gets an HTML part and a plain part, Slack gets Markdown) instead of
        # treating the text as HTML and losing every line break.
        result = self._apprise.notify(body=body, title=title, notify_type=notify_type,
                                      body_format=body_format)
        if result:
            return f"accepted by {len(self._masked)} Apprise service(s)"
        # Apprise >= 2 keeps each call's log on its result: no global log capture, which
        # would mix the messages of sinks delivering in parallel threads.
        entries = result.logs() if hasattr(result, "logs") else []
        log_text = " | ".join(e.message.strip() for e in entries
                              if e.level in ("WARNING", "ERROR", "CRITICAL"))
        reason = self._scrub(log_text) or "no reason given by Apprise"
        # Apprise does not tell transient from permanent failures: always retry.
        raise SinkDeliveryError(f"sink {self.name!r}: Apprise delivery failed: {reason[:500]}")

    def _scrub(self, text: str) -> str:
        for token in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(token, "***")
        return text


def _secret_tokens(url: str, masked: str) -> set[str]:
    """Pieces of the configured URL that Apprise's privacy mode hides: passwords, tokens,
    webhook keys. Short pieces are ignored (they would scrub ordinary words)."""
    visible = set(_TOKEN_SPLIT.split(masked))
    return {t for t in _TOKEN_SPLIT.split(url) if len(t) >= 4 and t not in visible}


def _log_lines(log_text: str) -> str:
    """Apprise's captured log lines without their time and level prefix, joined."""
    return " | ".join(line.split(" - ", 2)[-1].strip()
                      for line in log_text.splitlines() if line.strip())
