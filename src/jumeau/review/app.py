"""The review web app (FastAPI): reviewers vote on records, the owner reads the results.

Authentication: each reviewer's personal link `/login/<token>` puts the token in an HttpOnly,
SameSite=Strict cookie and redirects to `/review` (the token leaves the address bar; pages send
no Referer). Every form carries a CSRF token, an HMAC of the study secret and the signed-in
identity. A reviewer sees only their own assignment, one record at a time, in their own order;
no response carries the truth, and record ids are random. No access log is written (a login link
is a credential) and no record is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import Cookie, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jumeau.data.schema import Schema
from jumeau.review.i18n import STRINGS, pick_language
from jumeau.review.results import chance_level, reviewer_scores, study_results
from jumeau.review.store import LABELS, Assignment, Record, Reviewer, StudyStore, Vote, now

REVIEWER_COOKIE = "jumeau_reviewer"
ADMIN_COOKIE = "jumeau_admin"
LANGUAGE_COOKIE = "jumeau_lang"
MAX_REMARK = 2000
MAX_BODY_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)


class _Guard:
    """Security headers on every response; request bodies capped at `MAX_BODY_BYTES`: a POST
    must declare its length (browsers always do for forms; a chunked upload is refused), must be
    a plain form, and its bytes are also counted as they arrive, before any parser reads them.
    A plain ASGI wrapper, so that it sees the bytes before FastAPI does."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            await self._refuse(send, 413)
            return
        if scope["method"] == "POST":
            if b"content-length" not in headers:  # browsers always send it with a form
                await self._refuse(send, 411)
                return
            kind = headers.get(b"content-type", b"").split(b";")[0].strip()
            if kind != b"application/x-www-form-urlencoded":
                await self._refuse(send, 415)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise _TooLarge
            return message

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except _TooLarge:
            await self._refuse(send, 413)

    async def _refuse(self, send: Send, status: int) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), *self.headers],
            }
        )
        await send({"type": "http.response.body", "body": b"request refused"})


class _TooLarge(Exception):
    pass


def create_app(target: str | Path, *, secure_cookies: bool = False) -> FastAPI:
    """The app on one study database (SQLite path or SQLAlchemy URL). `secure_cookies` for
    deployments behind HTTPS."""
    store = StudyStore(target)
    with store.session() as session:
        store.study(session)  # fail now, with a clear message, if the database holds no study
    app = FastAPI(title="jumeau review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_Guard, hsts=secure_cookies)

    def language(request: Request, lang: str | None) -> str:
        return pick_language(
            lang, request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

    def page(name: str, lang: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = _templates.get_template(name).render(lang=lang, t=STRINGS[lang], **values)
        response = HTMLResponse(html, status_code=status)
        response.set_cookie(LANGUAGE_COOKIE, lang, httponly=True, samesite="strict")
        return response

    def message(lang: str, text: str, status: int = 200, error: bool = False) -> HTMLResponse:
        return page("message.html", lang, status, message=text, error=error, progress=None)

    def csrf_for(secret: str, identity: str) -> str:
        return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()

    def login_cookie(response: Response, name: str, token: str) -> None:
        response.set_cookie(
            name, token, httponly=True, samesite="strict", secure=secure_cookies, path="/"
        )

    # ------------------------------------------------------------------ reviewers
    @app.get("/login/{token}")
    def login(token: str, request: Request, lang: str | None = None) -> Response:
        with store.session() as session:
            reviewer = store.reviewer_by_token(session, token)
        if reviewer is None:
            return message(
                language(request, lang), STRINGS[language(request, lang)]["unauthorised"], 401, True
            )
        response = RedirectResponse("/review", status_code=303)
        login_cookie(response, REVIEWER_COOKIE, token)
        return response

    @app.get("/review")
    def review(
        request: Request,
        lang: Annotated[str | None, Query(max_length=5)] = None,
        jumeau_reviewer: Annotated[str | None, Cookie()] = None,
    ) -> Response:
        chosen = language(request, lang)
        with store.session() as session:
            reviewer = store.reviewer_by_token(session, jumeau_reviewer or "")
            if reviewer is None:
                return message(chosen, STRINGS[chosen]["unauthorised"], 401, True)
            return _record_page(session, store, reviewer, chosen, page, message, csrf_for)

    @app.post("/review/vote")
    def vote(
        request: Request,
        record: Annotated[str, Form(max_length=64)],
        csrf: Annotated[str, Form(max_length=128)],
        label: Annotated[str, Form(max_length=20)],
        confidence: Annotated[int, Form()],
        variables: Annotated[list[str] | None, Form()] = None,
        remark: Annotated[str, Form(max_length=MAX_REMARK)] = "",
        jumeau_reviewer: Annotated[str | None, Cookie()] = None,
    ) -> Response:
        chosen = language(request, None)
        text = STRINGS[chosen]
        with store.session() as session:
            reviewer = store.reviewer_by_token(session, jumeau_reviewer or "")
            if reviewer is None:
                return message(chosen, text["unauthorised"], 401, True)
            study = store.study(session)
            expected = csrf_for(study.secret, f"reviewer:{reviewer.token_hash}")
            if not hmac.compare_digest(csrf.encode(), expected.encode()):
                return message(chosen, text["bad_request"].format(reason="CSRF"), 403, True)
            if study.closed:
                return message(chosen, text["closed"], 409, True)
            columns = set(study.settings["columns"])
            chosen_variables = list(dict.fromkeys(variables or []))
            problem = None
            if label not in LABELS:
                problem = "label"
            elif not 1 <= confidence <= 5:
                problem = "confidence"
            elif not set(chosen_variables) <= columns:
                problem = "variables"
            assigned = session.scalars(
                select(Assignment).where(
                    Assignment.reviewer_id == reviewer.id, Assignment.record_id == record
                )
            ).first()
            if problem is None and assigned is None:
                problem = "record"
            if problem is not None:
                return message(chosen, text["bad_request"].format(reason=problem), 422, True)
            existing = session.scalars(
                select(Vote).where(Vote.reviewer_id == reviewer.id, Vote.record_id == record)
            ).first()
            if existing is not None and not study.settings.get("allow_changes"):
                return message(
                    chosen, text["bad_request"].format(reason="already voted"), 409, True
                )
            if existing is None:
                session.add(
                    Vote(
                        reviewer_id=reviewer.id,
                        record_id=record,
                        label=label,
                        confidence=confidence,
                        variables=chosen_variables,
                        remark=remark.strip(),
                        created=now(),
                    )
                )
            else:
                existing.label, existing.confidence = label, confidence
                existing.variables, existing.remark = chosen_variables, remark.strip()
            try:
                session.flush()
            except IntegrityError:  # the same vote sent twice at once: the first one counts
                return message(
                    chosen, text["bad_request"].format(reason="already voted"), 409, True
                )
        return RedirectResponse("/review", status_code=303)

    # ------------------------------------------------------------------ the study owner
    @app.get("/admin/login/{token}")
    def admin_login(token: str, request: Request) -> Response:
        with store.session() as session:
            ok = store.is_admin(session, token)
        if not ok:
            chosen = language(request, None)
            return message(chosen, STRINGS[chosen]["unauthorised"], 401, True)
        response = RedirectResponse("/admin", status_code=303)
        login_cookie(response, ADMIN_COOKIE, token)
        return response

    def admin_ok(token: str | None) -> bool:
        with store.session() as session:
            return store.is_admin(session, token or "")

    @app.get("/admin")
    def admin(
        request: Request,
        lang: Annotated[str | None, Query(max_length=5)] = None,
        jumeau_admin: Annotated[str | None, Cookie()] = None,
    ) -> Response:
        chosen = language(request, lang)
        if not admin_ok(jumeau_admin):
            return message(chosen, STRINGS[chosen]["unauthorised"], 401, True)
        with store.session() as session:
            secret = store.study(session).secret
        csrf = csrf_for(secret, "admin")
        return page("admin.html", chosen, results=study_results(store), csrf=csrf, standalone=False)

    @app.get("/admin/results.json")
    def admin_json(jumeau_admin: Annotated[str | None, Cookie()] = None) -> Response:
        if not admin_ok(jumeau_admin):
            return JSONResponse({"detail": "unauthorised"}, status_code=401)
        return JSONResponse(study_results(store))

    @app.post("/admin/close")
    def close(
        request: Request,
        csrf: Annotated[str, Form(max_length=128)],
        jumeau_admin: Annotated[str | None, Cookie()] = None,
    ) -> Response:
        chosen = language(request, None)
        if not admin_ok(jumeau_admin):
            return message(chosen, STRINGS[chosen]["unauthorised"], 401, True)
        with store.session() as session:
            study = store.study(session)
            if not hmac.compare_digest(csrf.encode(), csrf_for(study.secret, "admin").encode()):
                return message(
                    chosen, STRINGS[chosen]["bad_request"].format(reason="CSRF"), 403, True
                )
            study.closed = True
        return RedirectResponse("/admin", status_code=303)

    return app


def _record_page(
    session: Session,
    store: StudyStore,
    reviewer: Reviewer,
    lang: str,
    page: Any,
    message: Any,
    csrf_for: Any,
) -> Response:
    """The reviewer's next unvoted record, or the end of their study."""
    study = store.study(session)
    text = STRINGS[lang]
    assignments = list(
        session.scalars(
            select(Assignment)
            .where(Assignment.reviewer_id == reviewer.id)
            .order_by(Assignment.position)
        )
    )
    voted = set(session.scalars(select(Vote.record_id).where(Vote.reviewer_id == reviewer.id)))
    pending = [a for a in assignments if a.record_id not in voted]
    if not pending or study.closed:
        if study.closed:
            votes = list(session.scalars(select(Vote).where(Vote.reviewer_id == reviewer.id)))
            truth = {r.id: r.truth for r in session.scalars(select(Record))}
            scores = reviewer_scores(votes, truth, chance_level(study.settings["real_share"]))
            accuracy = f"{scores['accuracy']:.0%}" if scores.get("votes") else "—"
            return message(lang, text["done_closed"].format(accuracy=accuracy))
        return message(lang, text["done"])
    current = pending[0]
    record = session.get(Record, current.record_id)
    assert record is not None
    schema = Schema.model_validate(study.settings["schema"])
    groups = [
        {
            "name": group["name"],
            "rows": [
                {
                    "name": column,
                    "label": schema.columns[column].display_name(column),
                    "value": record.payload.get(column),
                }
                for column in group["columns"]
            ],
        }
        for group in study.settings["groups"]
    ]
    return page(
        "record.html",
        lang,
        groups=groups,
        record_id=record.id,
        position=len(voted) + 1,
        total=len(assignments),
        csrf=csrf_for(study.secret, f"reviewer:{reviewer.token_hash}"),
        max_remark=MAX_REMARK,
        error=None,
    )


def render_results_html(results: dict[str, Any], lang: str = "en") -> str:
    """The owner's results page as a standalone file (no form)."""
    return _templates.get_template("admin.html").render(
        lang=lang, t=STRINGS[lang], results=results, csrf="", standalone=True
    )
