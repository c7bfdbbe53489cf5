"""`type = "thehive"`: an alert in TheHive 5 through its v1 HTTP API.

One incident is one TheHive alert: `sourceRef` is the incident's dedup key. An escalation
(or a resend after a crash) finds the existing alert — remembered from this process, else
looked up with `/api/v1/query` — and updates it instead of creating a second one: title,
description, severity, link, and our own tags (the analysts' tags are kept).

Payloads follow thehive4py 2.x's input types (`InputAlert`, `InputUpdateAlert`,
`InputObservable`). A `sinks test` alert is deleted right after TheHive created it.
"""

from __future__ import annotations

from typing import Any, Unpack

import httpx

from monitor.alerting.sinks import format as fmt
from monitor.alerting.sinks.base import (
    CommonOptions,
    SinkDeliveryError,
    SinkOptions,
    TableReader,
    UrlSink,
    mask_url,
)
from monitor.alerting.sinks.http import check_response, make_client, transport_error
from monitor.config import Config
from monitor.models import Notification

SOURCE = "leakmon"
# Our tags whose value changes as an incident escalates: replaced on update, not piled up.
_MANAGED_TAG_PREFIXES = ("leakmon:event=", "leakmon:severity=")


class TheHiveSink(UrlSink):
    kind = "thehive"
    keys = ("url", "api_key", "organisation", "alert_type", "alert_tags", "tlp", "pap",
            "timeout", "verify")

    def __init__(self, name: str, *, url: str, api_key: str, organisation: str | None = None,
                 alert_type: str = "data-leak", alert_tags: list[str] | None = None,
                 tlp: int = 2, pap: int = 2, timeout: float = 15.0, verify: bool | str = True,
                 **common: Unpack[SinkOptions]) -> None:
        super().__init__(name, **common)
        self.url = url.rstrip("/")
        self.alert_type = alert_type
        self.alert_tags = list(alert_tags or [])
        self.tlp = tlp
        self.pap = pap
        self._client = make_client(timeout, verify)
        self._client.headers["Authorization"] = f"Bearer {api_key}"
        if organisation:
            self._client.headers["X-Organisation"] = organisation
        self._alert_ids: dict[str, str] = {}  # dedup key -> TheHive alert _id

    @classmethod
    def from_table(cls, table: TableReader, config: Config, common: CommonOptions) -> UrlSink:
        url = cls.read_url(table)
        verify = cls.read_verify(table, config)
        return cls(
            url=url, api_key=table.secret("api_key", required=True) or "",
            organisation=table.string("organisation"),
            alert_type=table.string("alert_type", "data-leak"),
            alert_tags=table.strings("alert_tags"),
            tlp=table.integer("tlp", 2, lo=0, hi=4) or 0,
            pap=table.integer("pap", 2, lo=0, hi=3) or 0,
            timeout=table.number("timeout", 15.0, minimum=0.1), verify=verify, **common,
        )

    # -- payloads --------------------------------------------------------------------------

    def _tags(self, n: Notification) -> list[str]:
        # leakmon:severity= tells info from low: TheHive has four levels, both are 1 (LOW)
        tags = ["leakmon", f"leakmon:rule={n.rule_id}", f"leakmon:event={n.event}",
                f"leakmon:severity={n.severity}"]
        if n.platform:
            tags.append(f"leakmon:platform={n.platform}")
        if n.canary:
            tags.append("leakmon:canary")
        return list(dict.fromkeys([*tags, *n.tags, *self.alert_tags]))

    def _fields(self, n: Notification) -> dict[str, Any]:
        """What an escalation updates (tags apart: see `merged_tags`)."""
        fields: dict[str, Any] = {
            "title": n.title,
            "description": fmt.body_markdown(n),
            "severity": fmt.severity_value(fmt.THEHIVE_SEVERITY, n.severity),
        }
        link = n.console_url or n.url  # the console's page, else where the leak was seen
        if link:
            fields["externalLink"] = link
        return fields

    def merged_tags(self, current: list[str], n: Notification) -> list[str]:
        """The alert's tags after an escalation: a PATCH replaces the whole list, so the
        tags analysts added are kept, our superseded event/severity tags are dropped and
        the new ones added."""
        kept = [t for t in current if not t.startswith(_MANAGED_TAG_PREFIXES)]
        return list(dict.fromkeys([*kept, *self._tags(n)]))

    def create_payload(self, n: Notification) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.alert_type,
            "source": SOURCE,
            "sourceRef": n.dedup_key,
            **self._fields(n),
            "tags": self._tags(n),
            "tlp": self.tlp,
            "pap": self.pap,
        }
        date = fmt.epoch_ms(n.first_seen or n.created_at)
        if date:
            body["date"] = int(date)
        if n.url:
            body["observables"] = [{"dataType": "url", "data": n.url,
                                    "message": "where the leak was seen", "ioc": False}]
        return body

    # -- API calls -------------------------------------------------------------------------

    def _request(self, method: str, path: str, *,
                 json: dict[str, Any] | None = None) -> httpx.Response:
        target = f"{mask_url(self.url)} {method} {path.split('?')[0]}"
        try:
            return self._client.request(method, self.url + path, json=json)
        except httpx.HTTPError as e:
            raise transport_error(self.name, target, e) from None

    def _checked(self, method: str, path: str, *,
                 json: dict[str, Any] | None = None) -> httpx.Response:
        response = self._request(method, path, json=json)
        check_response(self.name, f"TheHive {method} {path.split('?')[0]}", response)
        return response

    def find_alert(self, dedup_key: str) -> str | None:
        """The _id of our alert for this incident, if TheHive has one."""
        query = {"query": [
            {"_name": "listAlert"},
            {"_name": "filter", "_and": [{"_field": "sourceRef", "_value": dedup_key},
                                        {"_field": "source", "_value": SOURCE}]},
        ]}
        found = self._checked("POST", "/api/v1/query?name=leakmon-find-alert", json=query).json()
        if isinstance(found, list) and found and isinstance(found[0], dict):
            return str(found[0].get("_id") or found[0].get("id") or "") or None
        return None

    def send(self, n: Notification) -> str:
        if n.event == "test":
            return self._test(n)
        cached = self._alert_ids.get(n.dedup_key)
        if cached is not None:
            detail = self._update(cached, n)
            if detail is not None:
                return detail
            del self._alert_ids[n.dedup_key]  # deleted in TheHive meanwhile
        found = self.find_alert(n.dedup_key)
        if found is not None:
            detail = self._update(found, n)
            if detail is not None:
                return detail
        return self._create(n)

    def _test(self, n: Notification) -> str:
        """`sinks test`: create the alert (the real check: key, organisation, permissions),
        then delete it, so that each test leaves nothing behind in TheHive."""
        response = self._checked("POST", "/api/v1/alert", json=self.create_payload(n))
        alert_id = self._alert_id(response)
        self._checked("DELETE", f"/api/v1/alert/{alert_id}")
        return f"created test alert {alert_id} and deleted it (HTTP {response.status_code})"

    def _alert_id(self, response: httpx.Response) -> str:
        try:
            return str(response.json()["_id"])
        except (ValueError, KeyError, TypeError):
            raise SinkDeliveryError(
                f"sink {self.name!r}: TheHive created an alert but its answer has no _id "
                f"(HTTP {response.status_code})", retryable=False) from None

    def _create(self, n: Notification) -> str:
        response = self._request("POST", "/api/v1/alert", json=self.create_payload(n))
        if response.status_code == 400:
            # Created meanwhile (another process, or an answer lost in a crash)?
            found = self.find_alert(n.dedup_key)
            detail = self._update(found, n) if found else None
            if detail is not None:
                return detail
        check_response(self.name, "TheHive POST /api/v1/alert", response)
        alert_id = self._alert_id(response)
        self._alert_ids[n.dedup_key] = alert_id
        return f"created alert {alert_id} (HTTP {response.status_code})"

    def _update(self, alert_id: str, n: Notification) -> str | None:
        """Update our alert for an escalation; None when TheHive no longer has it (404)."""
        current = self._request("GET", f"/api/v1/alert/{alert_id}")
        if current.status_code == 404:
            return None
        check_response(self.name, "TheHive GET /api/v1/alert", current)
        tags = current.json().get("tags") or []
        fields = {**self._fields(n), "tags": self.merged_tags(list(tags), n)}
        response = self._request("PATCH", f"/api/v1/alert/{alert_id}", json=fields)
        if response.status_code == 404:
            return None
        check_response(self.name, "TheHive PATCH /api/v1/alert", response)
        self._alert_ids[n.dedup_key] = alert_id
        if n.url:
            obs = self._request("POST", f"/api/v1/alert/{alert_id}/observable",
                                json={"dataType": "url", "data": n.url, "ioc": False,
                                      "message": "where the leak was seen"})
            if obs.status_code != 400:  # 400: TheHive already has this observable
                check_response(self.name, "TheHive POST observable", obs)
        return f"updated alert {alert_id} (HTTP {response.status_code})"

    def close(self) -> None:
        self._client.close()
