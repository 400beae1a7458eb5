"""The UI's pages. Each is a function Streamlit runs; all data comes from the API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from fusionflow.ui import forms, session
from fusionflow.ui.client import ApiError

STATUSES = ["pending", "running", "completed", "failed", "cancelled"]
BADGES = {
    "pending": ":gray-badge[pending]",
    "running": ":blue-badge[running]",
    "completed": ":green-badge[completed]",
    "failed": ":red-badge[failed]",
    "cancelled": ":orange-badge[cancelled]",
}
# Artifacts up to this size are offered as downloads from the page.
MAX_INLINE_DOWNLOAD = 64 << 20
# Jobs with one output per input (thumbnails) have thousands of files: list and show a few.
MAX_LISTED_DOWNLOADS = 50
GALLERY_SIZE = 12

# The app's pages by url path, filled in by app.py: pages link to each other through it.
PAGES: dict[str, Any] = {}


def open_job(job_id: str) -> None:
    st.switch_page(PAGES["job"], query_params={"id": job_id})


def login() -> None:
    st.title("FusionFlow")
    flash = st.session_state.pop("flash", None)
    if flash:
        st.info(flash)
    with st.form("login"):
        username = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        try:
            session.log_in(username, password)
        except ApiError as e:
            st.error("Incorrect user name or password." if e.status == 401 else e.message)
            return
        st.rerun()


def jobs() -> None:
    st.title("Jobs")
    api = session.api()
    names = [p["name"] for p in session.call(api.pipelines) or []]
    left, middle, right, last = st.columns([2, 2, 2, 1])
    status = left.multiselect("Status", STATUSES)
    pipeline = middle.multiselect("Pipeline", names)
    text = right.text_input("Search names", placeholder="part of a name or id")
    sort = last.selectbox("Sort", ["-created_at", "created_at", "name", "-name", "status"])
    dates = st.date_input("Created between", value=[], help="Leave empty for any date.")

    @st.fragment(run_every=2)
    def table() -> None:
        filters: dict[str, Any] = {"status": status, "pipeline": pipeline, "q": text, "sort": sort}
        if len(dates) == 2:
            filters["created_after"] = f"{dates[0]}T00:00:00Z"
            filters["created_before"] = f"{dates[1]}T23:59:59Z"
        page = session.call(api.jobs, limit=100, **filters)
        if page is None:
            return
        st.caption(f"{page['total']} job" + ("" if page["total"] == 1 else "s"))
        rows = [_job_row(job) for job in page["items"]]
        picked = st.dataframe(
            rows,
            hide_index=True,
            use_container_width=True,
            column_config={
                "id": None,  # kept for the selection, not shown
                "progress": st.column_config.ProgressColumn(
                    "Progress", min_value=0, max_value=100, format="%.0f%%"
                ),
            },
            on_select="rerun",
            selection_mode="single-row",
            key="jobs_table",
        )
        st.caption("Select a row to open the job.")
        if picked.selection.rows:
            open_job(rows[picked.selection.rows[0]]["id"])

    table()


def _inputs_text(job: dict[str, Any]) -> str:
    """The first inputs, cut to 80 characters, and how many more there are."""
    shown = ", ".join(str(i) for i in job["inputs"])[:80]
    more = job.get("inputs_total", len(job["inputs"])) - len(job["inputs"])
    return f"{shown} and {more} more" if more > 0 else shown


def _job_row(job: dict[str, Any]) -> dict[str, Any]:
    throughput = job.get("throughput_bytes_s")
    return {
        "id": job["id"],
        "name": job["name"],
        "status": job["status"],
        "pipeline": job["pipeline"],
        "inputs": _inputs_text(job),
        "progress": job["progress"],
        "MB/s": round(throughput / 1e6, 1) if throughput else None,
        "ETA s": round(job["eta_s"]) if job.get("eta_s") is not None else None,
        "started": job["started_at"],
        "finished": job["finished_at"],
        "duration s": round(job["duration_s"], 1) if job.get("duration_s") else None,
    }


def new_job() -> None:
    st.title("New job")
    api = session.api()
    available = session.call(api.pipelines) or []
    if not available:
        return
    by_name = {p["name"]: p for p in available}
    name = st.selectbox("Pipeline", list(by_name), help="What to run over the files.")
    pipeline = by_name[name]
    st.caption(pipeline["description"])
    form = forms.fields(pipeline["params_schema"])
    errors: dict[str, str] = st.session_state.get("form_errors", {})
    message = st.session_state.pop("form_message", None)
    if message:
        st.error(message)
    values = {f.name: _widget(f, errors.get(f.name)) for f in form if not f.advanced}
    with st.expander("Advanced"):
        values |= {f.name: _widget(f, errors.get(f.name)) for f in form if f.advanced}

    st.subheader("Inputs")
    source = st.radio("From", ["Upload files", "S3 prefix", "Server folder"], horizontal=True)
    inputs: list[str] = []
    if source == "Upload files":
        uploaded = st.file_uploader("Files", accept_multiple_files=True)
        if uploaded and st.button("Upload"):
            bar = st.progress(0.0, text=f"Uploading {len(uploaded)} files")

            def sent(done: int, total: int) -> None:
                bar.progress(
                    done / total if total else 1.0, text=f"{_size(done)} of {_size(total)}"
                )

            items = session.call(api.upload, [(f.name, f) for f in uploaded], sent)
            if items:
                st.session_state.upload_folder = items[0]["url"].rsplit("/", 1)[0]
        if st.session_state.get("upload_folder"):
            inputs = [st.session_state.upload_folder]
            st.caption(f"Uploaded to {inputs[0]}")
    elif source == "S3 prefix":
        prefix = st.text_input("S3 prefix", placeholder="s3://bucket/logs/2026/")
        inputs = [prefix] if prefix else []
    else:
        folder = st.text_input("Server folder", placeholder="/var/log/app")
        inputs = [folder] if folder else []

    params = forms.to_params(form, values)
    job_name = st.text_input("Job name (optional)")
    with st.expander("Notify me for this job (overrides Settings)"):
        notify_email = st.text_input("E-mail", key="notify_email")
        notify_webhook = st.text_input("Webhook URL", key="notify_webhook")
    notify = {
        key: value
        for key, value in (("email", notify_email), ("webhook_url", notify_webhook))
        if value
    }
    left, right = st.columns(2)
    if left.button("Preview", disabled=not inputs):
        found = session.call(api.preview, name, inputs, params)
        if found:
            st.info(f"{found['files']} files, {_size(found['bytes'])}")
    if right.button("Submit", type="primary", disabled=not inputs):
        try:
            job = api.submit(name, inputs, params, name=job_name, notify=notify or None)
        except ApiError as e:
            # Shown beside the fields they name, on the form's next run.
            st.session_state.form_errors = e.field_errors()
            st.session_state.form_message = e.message
            st.rerun()
        st.session_state.pop("form_errors", None)
        st.session_state.pop("upload_folder", None)
        open_job(job["id"])


def _widget(f: forms.Field, error: str | None) -> Any:
    key = f"param_{f.name}"
    label = f.label + (" *" if f.required else "")
    value: Any
    if f.kind == "bool":
        value = st.checkbox(label, value=bool(f.default), help=f.help, key=key)
    elif f.kind == "choice":
        index = f.options.index(f.default) if f.default in f.options else 0
        value = st.selectbox(label, f.options, index=index, help=f.help, key=key)
    elif f.kind in ("int", "optional_int", "float"):
        # Streamlit wants one numeric type: a float field's bounds may come as ints.
        number = float if f.kind == "float" else int
        step = number(0.1 if f.kind == "float" else 1)
        value = st.number_input(
            label,
            value=None if f.default is None else number(f.default),
            min_value=None if f.minimum is None else number(f.minimum),
            max_value=None if f.maximum is None else number(f.maximum),
            step=step,
            help=f.help,
            key=key,
            placeholder="default",
        )
    elif f.kind == "lines":
        value = st.text_area(
            label, value="\n".join(f.default or []), help=f.help + " One per line.", key=key
        )
    else:
        value = st.text_input(label, value=f.default or "", help=f.help, key=key)
    if error:
        st.error(error)
    return value


def job() -> None:
    api = session.api()
    job_id = st.query_params.get("id")
    if not job_id:
        st.info("Pick a job on the Jobs page.")
        return

    @st.fragment(run_every=1)
    def live() -> None:
        found = session.call(api.job, job_id)
        if found is None:
            return
        st.title(found["name"])
        badge = BADGES.get(found["status"], found["status"])
        st.markdown(f"{badge} · {found['pipeline']} · `{found['id']}`")
        st.progress(found["progress"] / 100, text=f"{found['progress']:.0f}%")
        a, b, c, d = st.columns(4)
        a.metric("Files", f"{found['files_done']} / {found['files_total']}")
        b.metric("Data", f"{_size(found['bytes_done'])} / {_size(found['bytes_total'])}")
        rate = found.get("throughput_bytes_s")
        c.metric("Throughput", f"{rate / 1e6:.1f} MB/s" if rate else "-")
        eta = found.get("eta_s")
        d.metric("ETA", f"{eta:.0f} s" if eta is not None else "-")
        st.caption(f"Attempts: {found['attempts']}")
        if found["error"]:
            st.error(found["error"])
        left, right = st.columns(2)
        if found["status"] in ("pending", "running") and left.button("Cancel"):
            session.call(api.cancel, job_id)
        if found["status"] in ("failed", "cancelled") and right.button("Retry"):
            session.call(api.retry, job_id)
        if found["status"] == "completed" and not st.session_state.get(f"shown_{job_id}"):
            st.session_state[f"shown_{job_id}"] = True
            st.rerun()  # the whole page, to render the results below once

    live()
    found = session.call(api.job, job_id)
    if found and found["status"] == "completed":
        _results(job_id, found)


def _results(job_id: str, found: dict[str, Any]) -> None:
    api = session.api()
    summary = session.call(api.summary, job_id) or {}
    st.header("Results")
    if found["pipeline"] == "grep":
        _grep_results(job_id, summary)
    elif found["pipeline"] == "csv-aggregate":
        _csv_results(job_id, summary)
    elif found["pipeline"] == "resize-images":
        _resize_results(job_id, summary)
    elif found["pipeline"] == "extract-text":
        _extract_results(job_id, summary)
    with st.expander("summary.json"):
        st.json(summary)
    errors = summary.get("errors") or []
    if errors:
        st.subheader(f"Files with errors ({len(errors)})")
        st.dataframe(errors, hide_index=True)
    st.subheader("Downloads")
    artifacts = session.call(api.artifacts, job_id) or []
    # The job's own files (summary, report, manifest) before the trees of per-input outputs.
    artifacts.sort(key=lambda a: ("/" in a["name"], a["name"]))
    if len(artifacts) > MAX_LISTED_DOWNLOADS:  # thumbnails: thousands of outputs
        st.caption(
            f"{len(artifacts)} files; the first {MAX_LISTED_DOWNLOADS} are listed. "
            "The API lists them all: GET /api/v1/jobs/{id}/artifacts."
        )
    for artifact in artifacts[:MAX_LISTED_DOWNLOADS]:
        label = f"{artifact['name']} ({_size(artifact['size'])})"
        if artifact["size"] <= MAX_INLINE_DOWNLOAD:
            data = _artifact_bytes(job_id, artifact["name"])
            st.download_button(label, data=data, file_name=artifact["name"].rsplit("/", 1)[-1])
        else:  # streamed by the API straight to the browser, through a short-lived link
            link = session.call(session.api().download_link, job_id, artifact["name"])
            if link:
                st.link_button(label, session.public_api_url() + link)


def _grep_results(job_id: str, summary: dict[str, Any]) -> None:
    a, b, c = st.columns(3)
    a.metric("Matching lines", summary.get("matches", 0))
    b.metric("Files with matches", summary.get("files_matched", 0))
    c.metric("Files searched", summary.get("files_scanned", 0))
    per_pattern = summary.get("per_pattern") or {}
    if per_pattern:
        st.subheader("Matching lines per pattern")
        st.bar_chart(per_pattern, horizontal=True)
    per_file = summary.get("per_file") or {}
    if per_file:
        st.subheader("Matches per file")
        st.bar_chart(per_file, horizontal=True)
    output = summary.get("output", "matches.txt")
    head = session.call(session.api().head_of, job_id, output, 16 << 10)
    if head:
        st.subheader("First matching lines")
        st.code(head.decode(errors="replace").rsplit("\n", 1)[0] or "(none)", language=None)


def _csv_results(job_id: str, summary: dict[str, Any]) -> None:
    a, b, c = st.columns(3)
    a.metric("Rows", summary.get("rows", 0))
    b.metric("Groups", summary.get("groups", 0))
    c.metric("Bad rows", summary.get("bad_rows", 0))
    head = session.call(
        session.api().head_of, job_id, summary.get("output", "aggregate.csv"), 8 << 20
    )
    if head:
        text = head.decode(errors="replace")
        if len(head) == 8 << 20:  # cut at the last whole row
            text = text.rsplit("\n", 1)[0]
        rows = list(csv.DictReader(io.StringIO(text)))
        st.subheader("Result")
        st.dataframe(rows, hide_index=True, use_container_width=True)  # sortable by column
        columns = list(rows[0]) if rows else []
        group_by = summary.get("params", {}).get("group_by", [])
        metrics = [c for c in columns if c not in group_by]
        if rows and metrics:
            metric = st.selectbox("Chart", metrics)
            label = " / ".join(group_by) or "all"
            chart = {" / ".join(r[g] for g in group_by) or "all": _number(r[metric]) for r in rows}
            st.bar_chart(chart, x_label=label, y_label=metric, horizontal=True)
    samples = summary.get("bad_row_samples") or []
    if samples:
        st.subheader("Bad rows (samples)")
        st.code("\n".join(samples), language=None)


def _resize_results(job_id: str, summary: dict[str, Any]) -> None:
    a, b, c = st.columns(3)
    a.metric("Thumbnails", summary.get("files_resized", 0))
    b.metric("Files with errors", len(summary.get("errors") or []))
    c.metric("Size", f"{_size(summary.get('bytes_in', 0))} → {_size(summary.get('bytes_out', 0))}")
    head = session.call(
        session.api().head_of, job_id, summary.get("manifest", "manifest.jsonl"), 1 << 20
    )
    if not head:
        return
    lines = head.decode(errors="replace").split("\n")[:-1]  # the last may be cut
    rows = [json.loads(line) for line in lines]
    st.subheader("Thumbnails")
    gallery = rows[:GALLERY_SIZE]
    for start in range(0, len(gallery), 4):
        for column, row in zip(st.columns(4), gallery[start : start + 4], strict=False):
            column.image(_artifact_bytes(job_id, row["output"]), caption=row["output"])
    st.dataframe(
        [
            {
                "output": r["output"],
                "size": f"{r['width']}x{r['height']} → {r['new_width']}x{r['new_height']}",
                "format": f"{r['format']} → {r['output_format']}",
                "bytes": f"{_size(r['bytes_in'])} → {_size(r['bytes_out'])}",
            }
            for r in rows
        ],
        hide_index=True,
        use_container_width=True,
    )


def _extract_results(job_id: str, summary: dict[str, Any]) -> None:
    a, b, c = st.columns(3)
    a.metric("Documents", summary.get("files_extracted", 0))
    b.metric("PDF pages", summary.get("pages", 0))
    c.metric("Characters", summary.get("characters", 0))
    formats, languages = summary.get("formats") or {}, summary.get("languages") or {}
    if formats or languages:
        left, right = st.columns(2)
        if formats:
            left.subheader("Formats")
            left.bar_chart(formats, horizontal=True)
        if languages:
            right.subheader("Languages")
            right.bar_chart(languages, horizontal=True)
    head = session.call(session.api().head_of, job_id, summary.get("documents", ""), 1 << 20)
    if not head:
        return
    rows = [json.loads(line) for line in head.decode(errors="replace").split("\n")[:-1]]
    st.subheader("Documents")
    st.dataframe(
        [
            {
                "document": r["path"].rsplit("/", 1)[-1],
                "text": r["output"],
                "format": r["format"],
                "pages": r["pages"],
                "characters": r["characters"],
                "language": r["language"],
                "error": r["error"],
            }
            for r in rows
        ],
        hide_index=True,
        use_container_width=True,
    )
    first = next((r for r in rows if r["output"]), None)
    if first:
        text = session.call(session.api().head_of, job_id, first["output"], 4096) or b""
        st.subheader(f"Text of {first['output']}")
        st.code(text.decode(errors="replace"), language=None)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _artifact_bytes(job_id: str, name: str) -> bytes:
    out = io.BytesIO()
    session.call(session.api().download, job_id, name, out)
    return out.getvalue()


def notifications() -> None:
    st.title("Notifications")
    api = session.api()
    page = session.call(api.notifications) or {"items": [], "unread": 0}
    if page["unread"] and st.button(f"Mark all {page['unread']} read"):
        session.call(api.mark_all_read)
        st.rerun()
    for note in page["items"]:
        marker = "" if note["read"] else "**new** · "
        st.markdown(f"{marker}{note['message']}")
        if note["job_id"]:
            st.page_link(PAGES["job"], label="Open the job", query_params={"id": note["job_id"]})
        for delivery in note["deliveries"]:
            st.caption(f"{delivery['channel']} to {delivery['target']}: {delivery['status']}")
    if not page["items"]:
        st.caption("No notifications yet: you get one when a job of yours ends.")


def notification_badge() -> None:
    """In the sidebar of every page: unread count, and a toast when a job ends."""

    @st.fragment(run_every=3)
    def badge() -> None:
        page = session.call(session.api().notifications, unread=True)
        if page is None:
            return
        seen = st.session_state.setdefault("seen_notes", {n["id"] for n in page["items"]})
        for note in page["items"]:
            if note["id"] not in seen:
                seen.add(note["id"])
                st.toast(note["message"])
        st.markdown(f"Notifications: **{page['unread']}** unread")

    badge()


def settings() -> None:
    st.title("Settings")
    api = session.api()
    prefs = session.call(api.notify_prefs) or {}
    with st.form("notify"):
        st.write("Tell me when a job of mine ends, besides the app:")
        email = st.text_input("E-mail", value=prefs.get("email") or "")
        webhook = st.text_input(
            "Webhook URL (Slack-compatible)", value=prefs.get("webhook_url") or ""
        )
        minutes = st.number_input(
            "Only for jobs longer than (minutes)",
            value=float(prefs.get("min_duration_s", 0)) / 60,
            min_value=0.0,
        )
        saved = st.form_submit_button("Save")
    if saved:
        body: dict[str, Any] = {"min_duration_s": minutes * 60}
        if email:
            body["email"] = email
        if webhook:
            body["webhook_url"] = webhook
        if session.call(api.set_notify_prefs, body) is not None:
            st.success("Saved.")


def admin() -> None:
    st.title("Admin")
    done = st.session_state.pop("admin_done", None)
    if done:
        st.success(done)
    api = session.api()
    users = session.call(api.users)
    if users is None:
        return
    st.dataframe(users, hide_index=True, use_container_width=True)
    st.subheader("Change a user")
    by_name = {u["username"]: u for u in users}
    chosen = st.selectbox("User", list(by_name))
    target = by_name[chosen]
    left, middle, right = st.columns(3)
    role = left.selectbox("Role", ["user", "admin"], index=["user", "admin"].index(target["role"]))
    active = middle.checkbox("Active", value=target["active"])
    if right.button("Apply"):
        changed = session.call(api.update_user, target["id"], role=role, active=active)
        if changed is not None:
            _done(f"{chosen} updated.")  # after a rerun: the table above shows the change
    st.subheader("New user")
    with st.form("new_user", clear_on_submit=True):
        username = st.text_input("User name")
        password = st.text_input("Password", type="password")
        new_role = st.selectbox("Role", ["user", "admin"])
        created = st.form_submit_button("Create")
    if created:
        made = session.call(api.create_user, username, password, new_role)
        if made is not None:
            _done(f"Created {made['username']}.")
    _groups(api, by_name)
    _grants(api, by_name)


def _done(message: str) -> None:
    """Show ``message`` after the rerun that shows the change."""
    st.session_state.admin_done = message
    st.rerun()


def _groups(api: Any, by_name: dict[str, dict[str, Any]]) -> None:
    st.subheader("Groups")
    st.caption("A location granted to a group is granted to each of its members.")
    groups = session.call(api.groups)
    if groups is None:
        return
    rows = [{"group": g["name"], "members": ", ".join(g["members"])} for g in groups]
    st.dataframe(rows, hide_index=True, use_container_width=True)
    with st.form("new_group", clear_on_submit=True):
        name = st.text_input("Group name")
        if st.form_submit_button("Create group") and session.call(api.create_group, name):
            _done(f"Created group {name}.")
    if not groups:
        return
    left, right = st.columns(2)
    group = left.selectbox("Group", [g["name"] for g in groups])
    member = right.selectbox("Member", list(by_name))
    add, remove, delete = st.columns(3)
    user_id = by_name[member]["id"]
    if add.button("Add to group") and session.call(api.add_member, group, user_id):
        _done(f"{member} is in {group}.")
    if remove.button("Remove from group") and session.call(api.remove_member, group, user_id):
        _done(f"{member} left {group}.")
    if delete.button("Delete group") and session.call(_succeeds(api.delete_group), group):
        _done(f"Deleted group {group} and its grants.")


def _grants(api: Any, by_name: dict[str, dict[str, Any]]) -> None:
    st.subheader("Grants")
    st.caption(
        "Users read only their uploads and the server folders and s3:// prefixes granted to "
        "them or their groups (read-only), all under FUSIONFLOW_ALLOWED_ROOTS."
    )
    grants, groups = session.call(api.grants), session.call(api.groups)
    if grants is None or groups is None:
        return
    to = {g["id"]: f"group {g['group']}" if g["group"] else f"user {g['username']}" for g in grants}
    rows = [{"id": g["id"], "location": g["location"], "to": to[g["id"]]} for g in grants]
    st.dataframe(rows, hide_index=True, use_container_width=True)
    grantees = [f"user {name}" for name in by_name] + [f"group {g['name']}" for g in groups]
    with st.form("new_grant", clear_on_submit=True):
        location = st.text_input("Location", placeholder="/srv/logs/team-a or s3://bucket/prefix/")
        grantee = st.selectbox("Grant to", grantees)
        if st.form_submit_button("Grant") and grantee:
            kind, name = grantee.split(" ", 1)
            who = {"user_id": by_name[name]["id"]} if kind == "user" else {"group": name}
            made = session.call(api.grant, location, **who)
            if made is not None:
                _done(f"Granted {made['location']} to {grantee}.")
    if grants:
        labels = {f"{g['id']}: {g['location']} → {to[g['id']]}": g["id"] for g in grants}
        chosen = st.selectbox("Grant", list(labels))
        if st.button("Revoke") and session.call(_succeeds(api.revoke), labels[chosen]):
            _done(f"Revoked grant {labels[chosen]}.")


def _succeeds(action: Callable[..., None]) -> Callable[..., bool]:
    """``action`` returning True when it is done (``session.call`` gives None on errors)."""

    def done(*args: Any) -> bool:
        action(*args)
        return True

    return done


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"
