"""The jsonl sink's records against the ECS field reference (tests/alerting/data/
ecs_fields.json, the subset of ECS 8.11 we emit): every field outside our own `leakmon.*`
namespace is an ECS field, of its ECS type, with an allowed value where ECS lists them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting.sinks.jsonl import ecs_document, risk_score, stix_confidence
from tests.support.sinks import make_notification

REFERENCE = json.loads((Path(__file__).parent / "data" / "ecs_fields.json").read_text())
CUSTOM = "leakmon"  # our namespace: ECS leaves custom fields to a top-level name of our own


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and REFERENCE.get(name, {}).get("type") != "object":
            out |= _flatten(value, name + ".")
        else:
            out[name] = value
    return out


def _check_type(name: str, spec: dict[str, Any], value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not spec.get("array"):
        return [f"{name}: an array where ECS expects one value"]
    problems = []
    for v in values:
        kind = spec["type"]
        if kind in ("keyword", "wildcard", "match_only_text") and not isinstance(v, str):
            problems.append(f"{name}: {v!r} is not a string ({kind})")
        elif kind == "long" and (isinstance(v, bool) or not isinstance(v, int)):
            problems.append(f"{name}: {v!r} is not an integer (long)")
        elif kind == "float" and (isinstance(v, bool) or not isinstance(v, int | float)):
            problems.append(f"{name}: {v!r} is not a number (float)")
        elif kind == "date":
            try:
                datetime.fromisoformat(v)
            except (TypeError, ValueError):
                problems.append(f"{name}: {v!r} is not an ISO 8601 date")
        elif kind == "object" and not (isinstance(v, dict)
                                       and all(isinstance(x, str) for x in v.values())):
            problems.append(f"{name}: {v!r} is not an object of keyword values")
        allowed = spec.get("allowed_values") or spec.get("expected_values")
        if allowed and v not in allowed:
            problems.append(f"{name}: {v!r} is not one of ECS's values {allowed}")
        lo_hi = spec.get("range")
        if lo_hi and isinstance(v, int | float) and not lo_hi[0] <= v <= lo_hi[1]:
            problems.append(f"{name}: {v!r} outside {lo_hi}")
    return problems


def ecs_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for name, value in _flatten(doc).items():
        if name.split(".", 1)[0] == CUSTOM:
            continue
        spec = REFERENCE.get(name)
        if spec is None:
            problems.append(f"{name}: not an ECS field")
        else:
            problems += _check_type(name, spec, value)
    return problems


@pytest.mark.parametrize("overrides", [
    {},
    {"console_url": "https://leakmon.example/incidents/12", "event": "escalated"},
    {"url": None, "first_seen": None, "confidence": 0.0, "severity": "info"},
    {"canary": True, "severity": "low", "confidence": 0.2},
])
def test_every_emitted_field_is_in_the_ecs_reference(overrides):
    assert ecs_problems(ecs_document(make_notification(**overrides))) == []


def test_the_checker_catches_what_the_old_records_got_wrong():
    bad = {"event": {"risk_score": 930.0}, "threat": {"indicator": {
        "confidence": 0.93, "type": "link", "url_full": "x"}}}
    assert ecs_problems(bad) == [
        "event.risk_score: 930.0 outside [0, 100]",
        "threat.indicator.confidence: 0.93 is not a string (keyword)",
        "threat.indicator.confidence: 0.93 is not one of ECS's values "
        "['Not Specified', 'None', 'Low', 'Medium', 'High']",
        "threat.indicator.type: 'link' is not one of ECS's values "
        + str(REFERENCE["threat.indicator.type"]["expected_values"]),
        "threat.indicator.url_full: not an ECS field",
    ]


def test_indicator_meaning():
    doc = ecs_document(make_notification(console_url="https://leakmon.example/incidents/12"))
    ind = doc["threat"]["indicator"]
    assert ind["type"] == "url" and ind["url"]["full"] == "https://pastebin.com/raw/Ab12Cd34"
    assert ind["provider"] == "leakmon" and doc["threat"]["feed"]["name"] == "leakmon"
    assert ind["reference"] == "https://leakmon.example/incidents/12"
    assert ind["confidence"] == "High"  # 0.93
    # risk is the severity's, whatever the confidence
    assert doc["event"]["risk_score"] == 99.0
    assert risk_score(make_notification(severity="medium", confidence=0.1)) == 47.0
    assert risk_score(make_notification(severity="low", canary=True)) == 99.0
    assert [stix_confidence(c) for c in (0, 0.01, 0.29, 0.3, 0.69, 0.7, 1)] == [
        "None", "Low", "Low", "Medium", "Medium", "High", "High"]
