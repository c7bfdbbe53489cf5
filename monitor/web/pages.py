"""The console's HTML pages: login, incidents list, incident page with triage, logout."""

from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from monitor.alerting import triage
from monitor.models import SEVERITIES
from monitor.store import INCIDENT_SORTS
from monitor.store import users as accounts
from monitor.store.users import create_session, end_session, verify_password
from monitor.web import ops
from monitor.web.auth import COOKIE, csrf_ok, identify
from monitor.web.common import ACTIONS, BadRequest, apply_action, details, filter_from
from monitor.web.spread import spread


def render(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
    tpl = request.app.state.templates.get_template(name)
    return HTMLResponse(tpl.render(request=request, **ctx), status_code=status)


def _login_redirect() -> Response:
    return RedirectResponse("/login", status_code=303)


LOGIN_CSRF = "leakmon_login_csrf"


def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    """The login form with a fresh pre-session CSRF token (double-submit cookie), so another
    site cannot log a browser into an account of its choosing."""
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status, error=error, login_csrf=token)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login",
                    secure=request.app.state.settings.secure_cookies)
    return resp


def login_form(request: Request):
    return _login_page(request)


async def login(request: Request):
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    state = request.app.state
    cookie, sent = request.cookies.get(LOGIN_CSRF, ""), str(form.get("csrf", ""))
    if not cookie or not hmac.compare_digest(cookie, sent):
        return _login_page(request, 403, "the login form expired; please try again")
    client = request.client.host if request.client else "?"
    keys = (f"ip:{client}", f"user:{name}")
    if state.limiter.blocked(*keys):
        return _login_page(request, 429, "too many failed logins; wait a while")
    # argon2 takes tens of ms: off the event loop so other requests keep flowing
    user = await run_in_threadpool(verify_password, state.store, name, password)
    if user is None:
        state.limiter.failed(*keys)
        return _login_page(request, 401, "wrong user name or password")
    resp = RedirectResponse("/incidents", status_code=303)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    resp.set_cookie(COOKIE, create_session(state.store, user.name), httponly=True,
                    samesite="strict", secure=state.settings.secure_cookies, path="/")
    return resp


async def logout(request: Request):
    _user, session = identify(request)
    form = await request.form()
    if session is None or not csrf_ok(session, form.get("csrf")):
        return _login_redirect()
    end_session(request.app.state.store, request.cookies[COOKIE])
    resp = _login_redirect()
    resp.delete_cookie(COOKIE, path="/")
    return resp


def index(request: Request):
    return RedirectResponse("/incidents", status_code=303)


def incidents(request: Request):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    store = request.app.state.store
    try:
        f = filter_from(request.query_params)
    except BadRequest as e:
        return render(request, "error.html", 400, user=user, session=session, message=str(e))
    triage.expire_snoozes(store)
    rows, total = store.search_incidents(f)
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}
    pages = max(1, math.ceil(total / f.per_page))
    link = lambda p: "/incidents?" + urlencode({**params, "page": p})  # noqa: E731
    return render(request, "incidents.html", user=user, session=session, incidents=rows,
                  total=total, f=f, counts=store.incident_counts(), statuses=triage.STATUSES,
                  severities=SEVERITIES, sorts=list(INCIDENT_SORTS), pages=pages,
                  prev=link(f.page - 1) if f.page > 1 else None,
                  next=link(f.page + 1) if f.page < pages else None)


def incident(request: Request):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    store = request.app.state.store
    d = details(store, request.path_params["id"])
    if d is None:
        return render(request, "error.html", 404, user=user, session=session,
                      message="no such incident")
    pic = spread(d, store.incident_records_detail(d["id"]))
    evidence = {}
    if _may_see_evidence(request, user):
        evidence = {(s["source"], s["external_id"]): s["document_id"]
                    for s in store.sightings_for(d["id"])}
    return render(request, "incident.html", user=user, session=session, d=d, spread=pic,
                  actions=list(ACTIONS), can_triage=user.can("analyst"), evidence=evidence)


def _may_see_evidence(request: Request, user) -> bool:
    """Raw content only for admins, only when `[web] show_unredacted` and evidence keeping
    are both on."""
    state = request.app.state
    return (user.can("admin") and state.settings.show_unredacted
            and state.store.evidence is not None)


EVIDENCE_MAX = 256 * 1024


def evidence_page(request: Request):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    if not _may_see_evidence(request, user):
        return render(request, "error.html", 403, user=user, session=session,
                      message="unredacted content is not shown (admins only, when [web] "
                              "show_unredacted and [store] evidence are on)")
    store = request.app.state.store
    iid, did = request.path_params["id"], request.path_params["doc"]
    doc = store.get_document_by_id(did)
    if doc is None or doc["incident_id"] != iid or not doc["evidence_path"]:
        return render(request, "error.html", 404, user=user, session=session,
                      message="no kept evidence for this document")
    try:
        raw = store.evidence.read(doc["sha256"])
    except OSError:
        return render(request, "error.html", 404, user=user, session=session,
                      message="the evidence file is gone (retention)")
    return render(request, "evidence.html", user=user, session=session, doc=doc,
                  incident_id=iid, text=raw[:EVIDENCE_MAX].decode("utf-8", "replace"),
                  truncated=len(raw) > EVIDENCE_MAX)


async def triage_form(request: Request):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    form = await request.form()
    if not csrf_ok(session, form.get("csrf")):
        return render(request, "error.html", 403, user=user, session=session,
                      message="the form expired or did not come from this console (CSRF)")
    if not user.can("analyst"):
        return render(request, "error.html", 403, user=user, session=session,
                      message=f"role {user.role} may not triage")
    incident_id = request.path_params["id"]
    try:
        await run_in_threadpool(
            apply_action, request.app.state.store, incident_id, str(form.get("action", "")),
            str(form.get("note", "")).strip() or None, str(form.get("duration", "")),
            f"web:{user.name}")
    except (BadRequest, triage.TriageError) as e:
        return render(request, "error.html", 400, user=user, session=session, message=str(e))
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


def _page(request: Request, template: str, gather):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    return render(request, template, user=user, session=session,
                  can_triage=user.can("analyst"), **gather(request.app.state))


def sources_page(request: Request):
    return _page(request, "sources.html",
                 lambda st: ops.sources(st.config, st.state_dir, st.store))


def rules_page(request: Request):
    return _page(request, "rules.html", lambda st: ops.rules(st.config, st.state_dir))


def outbox_page(request: Request):
    return _page(request, "outbox.html", lambda st: ops.outbox(st.store))


async def outbox_retry(request: Request):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    form = await request.form()
    if not csrf_ok(session, form.get("csrf")) or not user.can("analyst"):
        return render(request, "error.html", 403, user=user, session=session,
                      message="not allowed (analyst role and a form from this console needed)")
    request.app.state.store.outbox_retry_dead(request.path_params["id"])
    return RedirectResponse("/outbox", status_code=303)


def admin_users(request: Request, new_token: str | None = None, error: str | None = None,
                status: int = 200):
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    if not user.can("admin"):
        return render(request, "error.html", 403, user=user, session=session,
                      message="admins only")
    return render(request, "users.html", status, user=user, session=session,
                  users=accounts.list_users(request.app.state.store), roles=accounts.ROLES,
                  new_token=new_token, error=error)


async def admin_users_post(request: Request):
    """Add a user, create a token, revoke tokens or remove a user (admins, CSRF-checked)."""
    user, session = identify(request)
    if user is None:
        return _login_redirect()
    form = await request.form()
    if not user.can("admin") or not csrf_ok(session, form.get("csrf")):
        return render(request, "error.html", 403, user=user, session=session,
                      message="not allowed (admin role and a form from this console needed)")
    store, op = request.app.state.store, str(form.get("op", ""))
    name = str(form.get("name", ""))
    try:
        if op == "add":
            accounts.add_user(store, name, str(form.get("role", "")),
                              str(form.get("password", "")) or None)
        elif op == "token":
            token = accounts.create_token(store, name, f"web:{user.name}")
            return admin_users(request, new_token=token)
        elif op == "revoke":
            accounts.revoke_tokens(store, name)
        elif op == "remove":
            if name == user.name:
                raise accounts.UserError("you cannot remove your own account")
            accounts.remove_user(store, name)
        else:
            raise accounts.UserError(f"unknown operation {op!r}")
    except accounts.UserError as e:
        return admin_users(request, error=str(e), status=400)
    return RedirectResponse("/admin/users", status_code=303)


ROUTES = [
    Route("/admin/users", admin_users, methods=["GET"]),
    Route("/admin/users", admin_users_post, methods=["POST"]),
    Route("/sources", sources_page),
    Route("/rules", rules_page),
    Route("/outbox", outbox_page),
    Route("/outbox/{id:int}/retry", outbox_retry, methods=["POST"]),
    Route("/", index),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/incidents", incidents),
    Route("/incidents/{id:int}", incident),
    Route("/incidents/{id:int}/triage", triage_form, methods=["POST"]),
    Route("/incidents/{id:int}/evidence/{doc:int}", evidence_page),
]
