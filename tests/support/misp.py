"""A local MISP for the misp sink's tests: the endpoints PyMISP calls, answering the way MISP
2.5 does (ids and numbers as strings, 404 `Invalid event`), and refusing with MISP's 403/400
answers any request that breaks MISP's rules: the key, the event fields, and each attribute's
type and category checked against PyMISP's own describeTypes.json."""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pymisp

from tests.support.http import JsonApiServer, QuietHandler

DESCRIBE = json.loads((Path(pymisp.__file__).parent / "data" / "describeTypes.json")
                      .read_text())["result"]
TAG_COLOURS = {"tlp:amber": "#FFC000", "tlp:red": "#CC0033", "tlp:green": "#339900"}


def event_problems(event: Any) -> list[str]:
    """What MISP's Event validation refuses in an /events/add or /events/edit body."""
    if not isinstance(event, dict):
        return ["Event: not an object"]
    problems = []
    if not isinstance(event.get("info"), str) or not event["info"]:
        problems.append("info: required")
    checks = (("distribution", range(0, 5)), ("threat_level_id", range(1, 5)),
              ("analysis", range(0, 3)))
    for key, allowed in checks:
        if key in event and int(event[key]) not in allowed:
            problems.append(f"{key}: {event[key]!r} is not allowed")
    if "uuid" in event:
        try:
            uuid.UUID(event["uuid"])
        except (ValueError, TypeError, AttributeError):
            problems.append(f"uuid: {event['uuid']!r} is not a UUID")
    if "date" in event:
        try:
            date.fromisoformat(event["date"])
        except (ValueError, TypeError):
            problems.append(f"date: {event['date']!r} is not YYYY-MM-DD")
    for i, attr in enumerate(event.get("Attribute", [])):
        problems += [f"Attribute[{i}].{p}" for p in attribute_problems(attr)]
    for i, tag in enumerate(event.get("Tag", [])):
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or not tag["name"]:
            problems.append(f"Tag[{i}]: needs a name")
    return problems


def attribute_problems(attr: Any) -> list[str]:
    if not isinstance(attr, dict):
        return ["not an object"]
    typ, category = attr.get("type"), attr.get("category")
    problems = []
    if typ not in DESCRIBE["types"]:
        problems.append(f"type: {typ!r} is not a MISP attribute type")
    elif category not in DESCRIBE["category_type_mappings"]:
        problems.append(f"category: {category!r} is not a MISP category")
    elif typ not in DESCRIBE["category_type_mappings"][category]:
        problems.append(f"category: {typ!r} is not allowed in {category!r}")
    if not isinstance(attr.get("value"), str) or not attr["value"]:
        problems.append("value: required")
    if "to_ids" in attr and not isinstance(attr["to_ids"], bool):
        problems.append("to_ids: expected a boolean")
    if "distribution" in attr and int(attr["distribution"]) not in range(0, 6):
        problems.append(f"distribution: {attr['distribution']!r} is not allowed")
    return problems


class _MispHandler(QuietHandler):
    @property
    def owner(self) -> MispServer:
        return self.server.owner  # type: ignore[attr-defined]

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != self.owner.api_key:
            self._reply(403, {"name": "Authentication failed. Please make sure you pass the "
                              "API key of an API enabled user along in the Authorization "
                              "header.", "message": "Authentication failed.",
                              "url": self.path})
            return False
        if "application/json" not in self.headers.get("Accept", ""):
            self._reply(406, {"name": "Not Acceptable", "message": "Not Acceptable",
                              "url": self.path})
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorized():
            return
        owner = self.owner
        with owner.lock:
            owner.calls.append(("GET", self.path, None))
            if self.path == "/servers/getVersion":
                self._reply(200, {"version": "2.5.2", "pymisp_recommended_version":
                                  pymisp.__version__, "perm_sync": False,
                                  "perm_sighting": True, "perm_galaxy_editor": False,
                                  "request_encoding": [], "filter_sightings": True})
            elif self.path == "/users/view/me":
                self._reply(200, {"User": {"id": "3", "org_id": "1", "email":
                                           "leakmon@soc.example", "role_id": "3",
                                           "disabled": False},
                                  "Role": {"id": "3", "name": "User", "perm_add": True,
                                           "perm_modify": True, "perm_tagger": True},
                                  "UserSetting": []})
            elif self.path == "/attributes/describeTypes.json":
                self._reply(200, {"result": DESCRIBE})
            elif m := re.fullmatch(r"/events/view/([0-9a-f-]{36}|\d+)", self.path):
                event = owner.find(m.group(1))
                if event is None:
                    self._reply(404, {"name": "Invalid event", "message": "Invalid event",
                                      "url": self.path})
                else:
                    self._reply(200, {"Event": event})
            else:
                self._reply(404, {"name": "Not Found", "message": "Not Found",
                                  "url": self.path})

    def do_HEAD(self) -> None:
        owner = self.owner
        if self.headers.get("Authorization") != owner.api_key:
            self._reply(403)
            return
        m = re.fullmatch(r"/events/view/([0-9a-f-]{36}|\d+)", self.path)
        with owner.lock:
            owner.calls.append(("HEAD", self.path, None))
            found = m is not None and owner.find(m.group(1)) is not None
        self._reply(200 if found else 404)

    def do_POST(self) -> None:
        if not self._authorized():
            return
        owner = self.owner
        raw = self._body()
        body = json.loads(raw) if raw else {}
        with owner.lock:
            owner.calls.append(("POST", self.path, body))
            if self.path in ("/events/add", ) or self.path.startswith("/events/edit/"):
                event = body.get("Event", body) if isinstance(body, dict) else body
                problems = event_problems(event)
                if problems:
                    owner.rejected.append(problems)
                    self._reply(403, {"saved": False, "name": "Could not add Event",
                                      "message": "Could not add Event", "url": self.path,
                                      "errors": {"Event": problems}})
                    return
                if self.path == "/events/add":
                    if owner.find(event.get("uuid", "")) is not None:
                        self._reply(403, {"saved": False, "name": "Event already exists",
                                          "message": "Event already exists",
                                          "url": self.path})
                        return
                    self._reply(200, {"Event": owner.store(event, None)})
                else:
                    current = owner.find(self.path.rsplit("/", 1)[1])
                    if current is None:
                        self._reply(404, {"name": "Invalid event", "message": "Invalid event",
                                          "url": self.path})
                        return
                    self._reply(200, {"Event": owner.store(event, current)})
            elif m := re.fullmatch(r"/events/delete/(\d+|[0-9a-f-]{36})", self.path):
                event = owner.find(m.group(1))
                if event is None:
                    self._reply(404, {"name": "Invalid event", "message": "Invalid event",
                                      "url": self.path})
                    return
                del owner.events[event["id"]]
                self._reply(200, {"saved": True, "success": True, "name": "Event deleted.",
                                  "message": "Event deleted.", "url": self.path})
            else:
                self._reply(404, {"name": "Not Found", "message": "Not Found",
                                  "url": self.path})


class MispServer(JsonApiServer):
    handler = _MispHandler

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.attr_ids = itertools.count(1)
        self.events: dict[str, dict[str, Any]] = {}  # id -> event as MISP answers it
        self.calls: list[tuple[str, str, Any]] = []
        self.rejected: list[list[str]] = []

    def find(self, ref: str) -> dict[str, Any] | None:
        return next((e for e in self.events.values() if ref in (e["id"], e["uuid"])), None)

    def store(self, event: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        """MISP's side of add/edit: ids as strings, attributes matched by uuid."""
        out = dict(current or {})
        for key in ("info", "date", "threat_level_id", "analysis", "distribution"):
            if key in event:
                out[key] = str(event[key])
        out.setdefault("id", str(next(self.ids)))
        out.setdefault("uuid", event.get("uuid") or str(uuid.uuid4()))
        out.setdefault("orgc_id", "1")
        out["published"] = False
        attrs = {a["uuid"]: a for a in out.get("Attribute", [])}
        for attr in event.get("Attribute", []):
            aid = attr.get("uuid") or str(uuid.uuid4())
            stored = attrs.get(aid, {"id": str(next(self.attr_ids)), "uuid": aid,
                                     "event_id": out["id"]})
            stored.update({k: attr[k] for k in ("type", "category", "value", "comment",
                                                 "to_ids") if k in attr})
            stored["distribution"] = str(attr.get("distribution", stored.get("distribution",
                                                                             "5")))
            attrs[aid] = stored
        out["Attribute"] = list(attrs.values())
        out["attribute_count"] = str(len(attrs))
        out["Tag"] = [{"id": str(i), "name": t["name"], "colour":
                       TAG_COLOURS.get(t["name"], "#0088cc"), "exportable": True}
                      for i, t in enumerate(event.get("Tag", out.get("Tag", [])), 1)]
        self.events[out["id"]] = out
        return out
