"""The whole grep story in a real browser, and the admin page kept from users."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fusionflow.ui.client import ApiClient
from tests.e2e.conftest import ADMIN_PASSWORD, Site, shot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "logs"


def log_in(page: Any, site: Site, username: str, password: str) -> None:
    page.goto(site.ui)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Jobs").wait_for()


def idle(page: Any) -> None:
    """Until the app has run its script for what was last entered (as Streamlit's own
    browser tests wait, on the state it gives its root element)."""
    page.wait_for_timeout(200)  # the rerun the entry asked for has begun by now
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def test_the_grep_story_in_the_browser(page: Any, site: Site, tmp_path: Path) -> None:
    page.goto(site.ui)
    page.get_by_label("User name").wait_for()
    shot(page, "01-login")
    log_in(page, site, "admin", ADMIN_PASSWORD)
    shot(page, "02-jobs-empty")

    page.get_by_role("link", name="New job").click()
    page.get_by_role("heading", name="New job").wait_for()
    page.get_by_role("combobox", name="Pipeline").click()
    page.get_by_role("option", name="grep").click()
    page.get_by_role("textbox", name="Patterns *").fill("ERROR\nFATAL")
    logs = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
    page.locator('input[type="file"]').set_input_files([str(p) for p in logs])
    page.get_by_text(logs[-1].name).first.wait_for()  # in the uploader: ready to send
    page.get_by_role("button", name="Upload", exact=True).click()
    uploaded = page.get_by_text(re.compile(r"^Uploaded to "))
    uploaded.wait_for()
    folder = uploaded.inner_text().removeprefix("Uploaded to ").strip()
    page.get_by_role("button", name="Preview").click()
    page.get_by_text(f"{len(logs)} files").wait_for()
    shot(page, "03-new-job")
    page.get_by_role("button", name="Submit").click()  # and on to the job's page
    page.get_by_text("100%").wait_for(timeout=60_000)
    page.get_by_text("completed").first.wait_for()
    page.get_by_text("grep job").first.wait_for()  # the completion toast
    page.get_by_role("heading", name="Results").wait_for()
    page.get_by_text("Matching lines per pattern").wait_for()
    page.get_by_text("First matching lines").wait_for()
    page.get_by_text(re.compile(r":\d+:.*ERROR")).first.wait_for()  # path:line:text
    page.get_by_role("button", name=re.compile(r"^matches\.txt")).wait_for()
    shot(page, "04-job-completed")

    # The browser cannot save files here; fetch what the download button serves from
    # the API, and compare it with the CLI's output on the same uploaded files.
    with ApiClient(site.api) as api:
        api.login("admin", ADMIN_PASSWORD)
        (job,) = api.jobs()["items"]
        served = io.BytesIO()
        api.download(job["id"], "matches.txt", served)
    expected = tmp_path / "cli"
    cli = Path(sys.executable).with_name("fusionflow")
    env = {"PATH": os.environ["PATH"], "FUSIONFLOW_DATA_DIR": str(site.data_dir)}
    command = [cli, "run", "grep", folder, "-e", "ERROR", "-e", "FATAL", "-o", expected]
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert served.getvalue() == (expected / "matches.txt").read_bytes()

    page.get_by_role("link", name="Jobs").click()
    page.get_by_text("1 job", exact=True).wait_for()
    shot(page, "05-jobs")
    page.get_by_role("link", name="Notifications").click()
    page.get_by_text("completed").first.wait_for()
    shot(page, "06-notifications")


def test_users_do_not_reach_the_admin_page(page: Any, site: Site) -> None:
    with ApiClient(site.api) as api:
        api.login("admin", ADMIN_PASSWORD)
        if "bob" not in {u["username"] for u in api.users()}:
            api.create_user("bob", "bob-password")
    log_in(page, site, "bob", "bob-password")
    assert page.get_by_role("link", name="Admin").count() == 0
    page.goto(f"{site.ui}/admin")
    page.wait_for_timeout(2000)
    assert page.get_by_role("heading", name="Admin").count() == 0
    shot(page, "07-user-no-admin")
    log_in(page, site, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("heading", name="Admin").wait_for()
    # The users table is a canvas grid: its cells are in the DOM for readers, not visible.
    page.locator("td", has_text="bob").first.wait_for(state="attached")
    shot(page, "08-admin")


def test_the_csv_story_in_the_browser(page: Any, site: Site, tmp_path: Path) -> None:
    sales = tmp_path / "sales"
    sales.mkdir()
    (sales / "jan.csv").write_text("region,amount\neu,3\nus,4\neu,5\n")
    (sales / "feb.csv").write_text('region,amount\nus,10\n"broken,1\n')
    log_in(page, site, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="New job").click()
    page.get_by_role("heading", name="New job").wait_for()  # csv-aggregate is first
    page.get_by_role("textbox", name="Group By").fill("region")
    page.get_by_role("textbox", name="Metrics").fill("count\nsum:amount")
    page.locator('input[type="file"]').set_input_files(sorted(str(p) for p in sales.iterdir()))
    page.get_by_text("jan.csv").wait_for()  # in the uploader: ready to send
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text(re.compile(r"^Uploaded to ")).wait_for()
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("100%").wait_for(timeout=60_000)
    page.get_by_role("heading", name="Result", exact=True).wait_for()
    page.get_by_text("Bad rows (samples)").wait_for()
    page.get_by_text(re.compile(r"feb\.csv:3")).first.wait_for()
    shot(page, "09-csv-job")
    # The table shows the aggregate: eu 2 rows sum 8, us 2 rows sum 14.
    for cell in ("eu", "us", "8", "14"):
        page.locator("td", has_text=re.compile(f"^{cell}$")).first.wait_for(state="attached")


def test_the_photos_story_in_the_browser(page: Any, site: Site, tmp_path: Path) -> None:
    from tests.pipelines.images import quadrants

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        quadrants(900 + 100 * i, 600).save(photos / f"holiday-{i}.jpg")
    log_in(page, site, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="New job").click()
    page.get_by_role("heading", name="New job").wait_for()
    page.get_by_role("combobox", name="Pipeline").click()
    page.get_by_role("option", name="resize-images").click()
    # The files first: chosen while the app reran for a value just entered, they were at
    # times dropped (the uploader's input replaced under them), on a busy machine.
    page.locator('input[type="file"]').set_input_files(sorted(str(p) for p in photos.iterdir()))
    page.get_by_text("holiday-2.jpg").wait_for()  # in the uploader: ready to send
    page.get_by_role("spinbutton", name="Max Width").fill("240")
    page.get_by_role("spinbutton", name="Max Width").press("Enter")
    idle(page)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text(re.compile(r"^Uploaded to ")).wait_for()
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("100%").wait_for(timeout=60_000)
    page.get_by_role("heading", name="Thumbnails").wait_for()
    gallery = page.locator('[data-testid="stImage"] img')
    gallery.nth(2).wait_for()
    assert gallery.count() == 3
    widths = sorted(gallery.nth(i).evaluate("img => img.naturalWidth") for i in range(3))
    assert widths == [240, 240, 240]
    page.locator("td", has_text="1000x600 → 240x144").first.wait_for(state="attached")
    shot(page, "10-photos-job")


def test_the_documents_story_in_the_browser(page: Any, site: Site, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "memo.html").write_text("<h1>Memo</h1><p>The shipment leaves on Monday.</p>")
    (docs / "notes.txt").write_text(
        "Remember to water the plants while we are away. The neighbours have a key to the "
        "house, and the cat should be fed twice a day, in the morning and in the evening."
    )
    log_in(page, site, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="New job").click()
    page.get_by_role("heading", name="New job").wait_for()
    page.get_by_role("combobox", name="Pipeline").click()
    page.get_by_role("option", name="extract-text").click()
    page.get_by_role("textbox", name="Formats").wait_for()  # the form of extract-text
    page.locator('input[type="file"]').set_input_files(sorted(str(p) for p in docs.iterdir()))
    page.get_by_text("notes.txt").first.wait_for()  # in the uploader: ready to send
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text(re.compile(r"^Uploaded to ")).wait_for()
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("100%").wait_for(timeout=60_000)
    page.get_by_role("heading", name="Documents").wait_for()
    page.get_by_role("heading", name=re.compile(r"^Text of memo\.html\.txt")).wait_for()
    page.get_by_text("The shipment leaves on Monday.").first.wait_for()
    page.locator("td", has_text="eng").first.wait_for(state="attached")  # the language column
    shot(page, "11-documents-job")
