"""The review page: a starlette app rendering jinja2 templates, everything served locally (no CDN).

Routes: ``/`` (progress and who is labelling), ``/next`` (the first item this annotator has not answered),
``/item/{key}`` (one item of the queue; POST records an answer), ``/agreement`` (judge queue: people vs the
judge), ``/results`` (row and failure queues: the counts so far), ``/export/labels.jsonl`` and
``/export/labels.csv``. What an item page shows and takes depends on the review's kind: a blinded comparison
(judge; the judge's verdict is shown once answered), a row to accept, reject or correct (rows; a correction
that fails the row gates is refused with the reason, and the typed text stays in the box), or a failed eval
item to tag with causes (failures).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from specialize.review import agreement as agreement_mod
from specialize.review import exports, failures, rows, store
from specialize.review.guard import ReviewGuard
from specialize.runtime.errors import InvalidInput, SpecializeError

HERE = Path(__file__).resolve().parent
ANNOTATOR_COOKIE = "specialize_review_annotator"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts
    "x-frame-options": "DENY", "referrer-policy": "same-origin", "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
VERDICT_WORDS = {"left": "Answer 1 is better", "right": "Answer 2 is better", "tie": "Tie", "both_bad": "Both bad"}
STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}


def build_app(review_id: str, *, token: str, port: int) -> Any:
    import jinja2
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    store.load_review(review_id)  # fail now, not on the first request, when the review does not exist
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(review=store.load_review(review_id), **ctx),
                            status_code=status, headers=SECURITY_HEADERS)

    def annotator_of(request: Request) -> str | None:
        raw = request.cookies.get(ANNOTATOR_COOKIE)
        return unquote(raw) if raw else None

    def progress(annotator: str | None) -> dict[str, Any]:
        items = store.load_items(review_id)
        answers = store.latest_answers(review_id)
        mine = {k for (k, who) in answers if who == annotator}
        return {"total": len(items), "mine": len(mine), "all": len(answers),
                "annotators": sorted({who for (_, who) in answers})}

    async def index(request: Request) -> Response:
        name = request.query_params.get("annotator")
        if name:
            return set_annotator_and_go(name, "/")
        who = annotator_of(request)
        return page("index.html", annotator=who, progress=progress(who))

    def set_annotator_and_go(name: str, where: str) -> Response:
        name = name.strip()
        if not name or len(name) > 80:
            raise InvalidInput("The annotator name must be 1-80 characters.", fix="Type your name.")
        resp = RedirectResponse(where, status_code=303, headers=SECURITY_HEADERS)
        resp.set_cookie(ANNOTATOR_COOKIE, quote(name), httponly=True, samesite="strict", path="/")
        return resp

    async def set_annotator(request: Request) -> Response:
        form = await request.form()
        return set_annotator_and_go(str(form.get("annotator", "")), "/next")

    async def next_item(request: Request) -> Response:
        who = annotator_of(request)
        if not who:
            return RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        answers = store.latest_answers(review_id)
        for it in store.load_items(review_id):
            if (it["key"], who) not in answers:
                return RedirectResponse(f"/item/{it['key']}", status_code=303, headers=SECURITY_HEADERS)
        return RedirectResponse(done_url(), status_code=303, headers=SECURITY_HEADERS)

    def done_url() -> str:
        return "/agreement" if store.load_review(review_id)["kind"] == "judge" else "/results"

    async def item(request: Request) -> Response:
        who = annotator_of(request)
        if not who:
            return RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        key = request.path_params["key"]
        items = store.load_items(review_id)
        pos = next((i for i, it in enumerate(items) if it["key"] == key), None)
        if pos is None:
            return page("message.html", status=404, title="No such item",
                        message=f"This review has no item '{key}'.")
        it = items[pos]
        kind = store.load_review(review_id)["kind"]
        nav = dict(position=pos + 1, prev_key=items[pos - 1]["key"] if pos > 0 else None,
                   next_key=items[pos + 1]["key"] if pos + 1 < len(items) else None, done_url=done_url(),
                   annotator=who)
        edit_error = typed = None
        if request.method == "POST":
            form = await request.form()
            if kind == "judge":
                store.record_answer(review_id, key, who, str(form.get("verdict", "")), str(form.get("reason", "")))
            elif kind == "rows":
                # a reject button sends only its reason
                decision = str(form.get("decision") or ("reject" if form.get("reason") else ""))
                try:
                    rows.record_decision(review_id, key, who, decision, reason=str(form.get("reason") or "") or None,
                                         answer=str(form.get("answer", "")), note=str(form.get("note", "")))
                except InvalidInput as exc:
                    if decision != "edit":
                        raise
                    edit_error, typed = exc.problem, str(form.get("answer", ""))
            else:
                failures.record_tags(review_id, key, who, [str(c) for c in form.getlist("cause")],
                                     str(form.get("note", "")))
            if edit_error is None:
                return RedirectResponse(f"/item/{key}", status_code=303, headers=SECURITY_HEADERS)
        mine = store.latest_answers(review_id).get((key, who))
        if kind == "rows":
            return page("row.html", status=422 if edit_error else 200, item=it, mine=mine, edit_error=edit_error,
                        answer_text=typed if typed is not None else (mine or {}).get("answer") or it["answer"],
                        reasons=rows.reject_reasons(), progress=progress(who), **nav)
        if kind == "failures":
            return page("failure.html", item=it, mine=mine, causes=failures.causes(), progress=progress(who), **nav)
        left, right = (it["response_a"], it["response_b"]) if it["shown_order"][0] == "A" else (
            it["response_b"], it["response_a"])
        judge_shown = None
        if mine:  # revealed only once this person has answered
            jv = it["judge_verdict"]
            if jv in ("A_better", "B_better"):
                side = "left" if (jv[0] == it["shown_order"][0]) else "right"
                judge_shown = VERDICT_WORDS[side]
            else:
                judge_shown = VERDICT_WORDS[jv]
        return page("item.html", item=it, left=left, right=right, mine=mine,
                    mine_words=VERDICT_WORDS.get(mine["shown_verdict"]) if mine else None, judge_shown=judge_shown,
                    progress=progress(who), **nav)

    async def results_page(request: Request) -> Response:
        kind = store.load_review(review_id)["kind"]
        if kind == "judge":
            return RedirectResponse("/agreement", status_code=303, headers=SECURITY_HEADERS)
        summary = rows.summary(review_id) if kind == "rows" else failures.summary(review_id)
        return page("results.html", s=summary, annotator=annotator_of(request),
                    progress=progress(annotator_of(request)))

    async def agreement_page(request: Request) -> Response:
        if store.load_review(review_id)["kind"] != "judge":
            return RedirectResponse("/results", status_code=303, headers=SECURITY_HEADERS)
        return page("agreement.html", a=agreement_mod.agreement(review_id), labels=agreement_mod.LABELS,
                    annotator=annotator_of(request), progress=progress(annotator_of(request)))

    async def export(request: Request) -> Response:
        fmt = request.path_params["fmt"]
        rows = exports.label_rows(review_id)
        body, media = (exports.to_jsonl(rows), "application/jsonl") if fmt == "jsonl" else (
            exports.to_csv(rows), "text/csv")
        return Response(body, media_type=media, headers={
            **SECURITY_HEADERS, "content-disposition": f'attachment; filename="{review_id}-labels.{fmt}"'})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("Not found", status_code=404)
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                        headers={"x-content-type-options": "nosniff", "cache-control": "no-store"})

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SpecializeError)
        return page("message.html", status=400, title="Not saved", message=str(exc))

    routes = [
        Route("/", index), Route("/annotator", set_annotator, methods=["POST"]), Route("/next", next_item),
        Route("/item/{key}", item, methods=["GET", "POST"]), Route("/agreement", agreement_page),
        Route("/results", results_page),
        Route("/export/labels.{fmt:str}", export), Route("/static/{name}", static),
    ]
    app = Starlette(routes=routes, exception_handlers={SpecializeError: on_error})
    return ReviewGuard(app, token=token, port=port)


# ---------------------------------------------------------------------------------------------------
# serving


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(port: int, token: str) -> str:
    return f"http://127.0.0.1:{port}/?token={token}"


def serve(review_id: str, *, token: str, port: int = 0, on_ready: Any = None) -> None:
    """Serve the review in this process until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    sock = bind(port)
    real_port = sock.getsockname()[1]
    app = build_app(review_id, token=token, port=real_port)
    server_file = store.review_dir(review_id) / "server.json"
    info = {"review_id": review_id, "url": url_of(real_port, token), "port": real_port, "pid": os.getpid()}
    if on_ready is not None:
        info.update(on_ready(info) or {})
    tmp = server_file.with_name(f".server.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, server_file)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    finally:
        try:
            if json.loads(server_file.read_text()).get("pid") == os.getpid():
                server_file.unlink()
        except (OSError, ValueError):
            pass


def serve_job(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Job entry point (``specialize.review.app:serve_job``): serve until the job is cancelled."""
    job_id = ctx.job["job_id"]
    ctx.progress(message="starting the review page", force=True)
    serve(params["review_id"], token=params["token"], port=int(params.get("port") or 0),
          on_ready=lambda info: {"job_id": job_id})
    print("review page stopped", file=sys.stderr)
    if ctx.cancel_requested():
        from specialize.runtime.jobs import JobCancelled

        raise JobCancelled()
    return {"review_id": params["review_id"], "stopped": True}
