"""`/api/v1`: JSON over the same library calls as `alerts list/show --json` and triage."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from monitor.alerting import triage
from monitor.web.auth import identify
from monitor.web.common import BadRequest, apply_action, details, filter_from


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _auth(request: Request, need: str):
    user, session = identify(request)
    if user is None:
        return None, _error(401, "authentication required (Authorization: Bearer TOKEN)")
    if session is not None:
        return None, _error(401, "the API takes bearer tokens, not console cookies")
    if not user.can(need):
        return None, _error(403, f"role {user.role} may not do this (needs {need})")
    return user, None


def list_incidents(request: Request):
    _user, err = _auth(request, "viewer")
    if err:
        return err
    store = request.app.state.store
    try:
        f = filter_from(request.query_params)
    except BadRequest as e:
        return _error(400, str(e))
    triage.expire_snoozes(store)
    incidents, total = store.search_incidents(f)
    out = []
    for inc in incidents:
        d = inc.to_dict()
        d["sites"] = sorted(f"{p}:{s}" for p, s in store.incident_sites(inc.id))
        out.append(d)
    return JSONResponse({"total": total, "page": f.page, "per_page": f.per_page,
                         "counts": store.incident_counts(), "incidents": out})


def show_incident(request: Request):
    _user, err = _auth(request, "viewer")
    if err:
        return err
    d = details(request.app.state.store, request.path_params["id"])
    return JSONResponse(d) if d else _error(404, "no such incident")


async def triage_incident(request: Request):
    user, err = _auth(request, "analyst")
    if err:
        return err
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "body must be JSON: {\"action\": ..., \"note\": ...}")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    for key in ("note", "duration"):
        if body.get(key) is not None and not isinstance(body[key], str):
            return _error(400, f"{key}: expected a string")
    store = request.app.state.store
    if store.get_incident(request.path_params["id"]) is None:
        return _error(404, "no such incident")
    try:
        inc = await run_in_threadpool(
            apply_action, store, request.path_params["id"], str(body.get("action", "")),
            body.get("note"), body.get("duration"), f"api:{user.name}")
    except (BadRequest, triage.TriageError) as e:
        return _error(400, str(e))
    return JSONResponse(inc.to_dict())


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "leakmon API", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/incidents": {"get": {
            "summary": "Incidents (as `alerts list --json`), filtered, sorted, paged",
            "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}} for n in (
                "status", "severity", "rule", "platform", "site", "canary", "q", "since",
                "until", "sort", "page", "per_page")],
            "responses": {"200": {"description": "total, page, counts, incidents"},
                          "400": {"description": "bad parameter"},
                          "401": {"description": "no or bad token"}}}},
        "/api/v1/incidents/{id}": {"get": {
            "summary": "One incident (as `alerts show --json`)",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the incident"},
                          "404": {"description": "no such incident"}}}},
        "/api/v1/incidents/{id}/triage": {"post": {
            "summary": "ack | resolve | false-positive | snooze, with a note (analyst role)",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["action"],
                "properties": {"action": {"enum": ["ack", "resolve", "false-positive",
                                                   "snooze"]},
                               "note": {"type": "string"},
                               "duration": {"type": "string", "example": "7d"}}}}}},
            "responses": {"200": {"description": "the incident after the change"},
                          "403": {"description": "role may not triage"}}}},
    },
}


def openapi(request: Request):
    return JSONResponse(OPENAPI)


ROUTES = [
    Route("/api/v1/openapi.json", openapi),
    Route("/api/v1/incidents", list_incidents),
    Route("/api/v1/incidents/{id:int}", show_incident),
    Route("/api/v1/incidents/{id:int}/triage", triage_incident, methods=["POST"]),
]
