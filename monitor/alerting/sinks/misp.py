"""`type = "misp"`: one MISP event per incident, through PyMISP (MISP's own client).

The event's UUID is derived from the incident's dedup key, so any process finds it again
(`GET /events/view/<uuid>`) without keeping state. A new incident creates the event; an
escalation loads it and adds what is new: the URL of each sighting, the SHA-256 of each
document the incident was seen in, the record and sighting counts (updated in place), and
the tags (TLP, severity, event — ours replaced, the analysts' kept). Never a record value:
MISP gets ids and counts only. `sinks test` creates a marked event and deletes it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack

import requests

from monitor.alerting.sinks.base import (
    CommonOptions,
    SinkDeliveryError,
    SinkOptions,
    TableReader,
    UrlSink,
)
from monitor.config import Config
from monitor.models import Notification

if TYPE_CHECKING:
    from pymisp import MISPEvent, PyMISP

# uuid5 namespace of leakmon's MISP events (fixed: the same incident is the same event forever)
EVENT_NAMESPACE = uuid.UUID("0d7e2f4c-1b8a-5c3e-9f61-7a2d4b9c8e15")
TLP_TAGS = ("clear", "white", "green", "amber", "amber+strict", "red")
DISTRIBUTIONS = {"organisation": 0, "community": 1, "connected": 2, "all": 3}
# MISP threat levels: 1 High, 2 Medium, 3 Low, 4 Undefined
THREAT_LEVEL = {"critical": 1, "high": 1, "medium": 2, "low": 3, "info": 3}
_MANAGED_TAG_PREFIXES = ("leakmon:event=", "leakmon:severity=", "tlp:")
_COUNTERS = {"records": "distinct records of ours matched",
             "sightings": "sightings of this incident"}

log = logging.getLogger(__name__)


def event_uuid(dedup_key: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, dedup_key))


class MispSink(UrlSink):
    kind = "misp"
    keys = ("url", "api_key", "tlp", "distribution", "event_tags", "publish", "timeout",
            "verify")

    def __init__(self, name: str, *, url: str, api_key: str, tlp: str = "amber",
                 distribution: str = "organisation", event_tags: list[str] | None = None,
                 publish: bool = False, timeout: float = 15.0, verify: bool | str = True,
                 **common: Unpack[SinkOptions]) -> None:
        super().__init__(name, **common)
        self.url = url.rstrip("/")
        self._api_key = api_key
        self.tlp = tlp
        self.distribution = DISTRIBUTIONS[distribution]
        self.event_tags = list(event_tags or [])
        self.publish = publish
        self.timeout = timeout
        self.verify = verify
        self._misp: PyMISP | None = None  # PyMISP contacts the server when built: on first delivery

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> UrlSink:
        url = cls.read_url(table)
        verify = cls.read_verify(table, config)
        return cls(url=url, api_key=table.secret("api_key", required=True) or "",
                   tlp=table.choice("tlp", TLP_TAGS, "amber"),
                   distribution=table.choice("distribution", tuple(DISTRIBUTIONS),
                                             "organisation"),
                   event_tags=table.strings("event_tags"),
                   publish=table.boolean("publish", False),
                   timeout=table.number("timeout", 15.0, minimum=0.1), verify=verify,
                   **common)

    # -- what MISP gets --------------------------------------------------------------------

    def tag_names(self, n: Notification) -> list[str]:
        tags = [f"tlp:{self.tlp}", "leakmon", f"leakmon:rule={n.rule_id}",
                f"leakmon:event={n.event}", f"leakmon:severity={n.severity}"]
        if n.canary:
            tags.append("leakmon:canary")
        return list(dict.fromkeys([*tags, *n.tags, *self.event_tags]))

    def fill(self, event: MISPEvent, n: Notification) -> MISPEvent:
        """Put what `n` says into the MISPEvent `event` (new or loaded): nothing twice."""
        event.info = n.title
        event.threat_level_id = THREAT_LEVEL.get(n.severity, 2)
        event.analysis = 0 if n.event == "new" else 1  # initial / ongoing
        have = {(a.type, a.value): a for a in event.attributes}
        wanted: list[tuple[str, str, str, str]] = []
        if n.url:
            where = " / ".join(x for x in (n.platform, n.source) if x)
            wanted.append(("url", "External analysis", n.url,
                           f"where the leak was seen ({where}, {n.last_seen or n.created_at})"))
        if n.document_sha256:
            wanted.append(("sha256", "External analysis", n.document_sha256,
                           "SHA-256 of a document the incident was seen in"))
        if n.console_url:
            wanted.append(("link", "Internal reference", n.console_url, "leakmon console"))
        for typ, category, value, comment in wanted:
            if (typ, value) not in have:  # distribution 5: the event's
                event.add_attribute(type=typ, category=category, value=value, comment=comment,
                                    to_ids=False, distribution=5)
        counts = {"records": n.record_count, "sightings": n.sightings}
        for key, count in counts.items():
            current = next((a for a in event.attributes
                            if a.type == "counter" and a.comment == _COUNTERS[key]), None)
            if current is None:
                event.add_attribute(type="counter", category="Other", value=str(count),
                                    comment=_COUNTERS[key], to_ids=False, distribution=5)
            elif str(current.value) != str(count):
                current.value = str(count)
        current_tags = [t.name for t in event.tags]
        kept = [t for t in current_tags if not t.startswith(_MANAGED_TAG_PREFIXES)]
        event.tags = []
        for tag in dict.fromkeys([*kept, *self.tag_names(n)]):
            event.add_tag(tag)
        return event

    def new_event(self, n: Notification) -> MISPEvent:
        from pymisp import MISPEvent

        event = MISPEvent()
        event.uuid = event_uuid(n.dedup_key)
        event.distribution = self.distribution
        first = n.first_seen or n.created_at
        event.date = datetime.fromisoformat(first.replace("Z", "+00:00")).date()
        return self.fill(event, n)

    # -- API calls -------------------------------------------------------------------------

    def _client(self) -> PyMISP:
        if self._misp is None:
            from pymisp import PyMISP

            self._misp = self._call("connect", lambda: PyMISP(
                self.url, self._api_key, ssl=self.verify, timeout=self.timeout,
                tool="leakmon"))
        return self._misp

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one PyMISP call; its errors become SinkDeliveryError (no key in the text).

        Any: PyMISP answers `dict | MISPEvent | ...` by call and `pythonify`."""
        from pymisp.exceptions import PyMISPError

        try:
            result = fn()
        except requests.RequestException as e:
            raise SinkDeliveryError(f"sink {self.name!r}: MISP {what} at "
                                    f"{self.describe()} failed: {type(e).__name__}") from None
        except PyMISPError as e:  # 5xx, a refused key at connect, an answer that is not MISP's
            text = str(e).replace(self._api_key, "***")
            found = re.search(r"\((\d{3}), ", text)
            code = int(found.group(1)) if found else 0
            if 400 <= code < 500:
                raise _HttpError(code, f"sink {self.name!r}: MISP {what}: HTTP {code}: "
                                       f"{text[:300]}") from None
            raise SinkDeliveryError(f"sink {self.name!r}: MISP {what}: {text[:300]}") from None
        if isinstance(result, dict) and "errors" in result:
            status, detail = (result["errors"] if isinstance(result["errors"], tuple | list)
                              and len(result["errors"]) == 2 else (0, result["errors"]))
            message = detail.get("message", detail) if isinstance(detail, dict) else detail
            raise _HttpError(status, f"sink {self.name!r}: MISP {what}: HTTP {status}: "
                                     f"{str(message)[:300]}")
        return result

    def send(self, n: Notification) -> str:
        misp = self._client()
        if n.event == "test":
            created = self._call("add_event", lambda: misp.add_event(self.new_event(n),
                                                                    pythonify=True))
            self._call("delete_event", lambda: misp.delete_event(created))
            return f"created test event {created.id} and deleted it"
        uid = event_uuid(n.dedup_key)
        # HEAD first: a new incident's 404 would be logged as an error by PyMISP
        exists = self._call("event_exists", lambda: misp.event_exists(uid))
        event = self._call("get_event", lambda: misp.get_event(uid, pythonify=True)) \
            if exists else None
        if event is None:
            created = self._call("add_event", lambda: misp.add_event(self.new_event(n),
                                                                    pythonify=True))
            detail = f"created event {created.id} ({uid})"
            event = created
        else:
            updated = self._call("update_event", lambda: misp.update_event(
                self.fill(event, n), pythonify=True))
            detail = f"updated event {updated.id} ({uid}), {len(updated.attributes)} attribute(s)"
        if self.publish:
            self._call("publish", lambda: misp.publish(event))
        return detail

    def close(self) -> None:
        self._misp = None


class _HttpError(SinkDeliveryError):
    """A MISP 4xx answer: permanent (bad key, no permission, bad request), except 404 on
    lookup which `send` handles, and 408/429."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, retryable=status in (0, 408, 425, 429))
        self.status = status
