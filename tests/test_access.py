"""Which inputs API users may name: grants under the allowed roots, storage, the data dir,
and S3 aliases; and which of a job's files lie under its inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fusionflow.access import (
    Forbidden,
    canonical_input,
    canonical_location,
    check_inputs,
    outside_inputs,
)
from fusionflow.config import Settings
from fusionflow.errors import InvalidParameter


@pytest.fixture
def local(tmp_path: Path) -> Settings:
    (tmp_path / "srv" / "logs").mkdir(parents=True)
    (tmp_path / "srv" / "logs" / "a.log").write_text("x\n")
    # The data dir inside an allowed root: a careless but possible setup.
    return Settings(data_dir=tmp_path / "srv" / "ff", allowed_roots=[tmp_path / "srv"])


def test_local_inputs_are_checked_and_returned_resolved(local: Settings, tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    (srv / "link").symlink_to(srv / "logs")
    mine = [str(srv / "logs")]
    assert check_inputs(
        local, [f"file://{srv}/link/a.log"], user_id=2, admin=False, granted=mine
    ) == [str(srv / "logs" / "a.log")]
    assert check_inputs(
        local, [str(srv / "logs" / ".." / "logs")], user_id=2, admin=False, granted=mine
    ) == [str(srv / "logs")]
    with pytest.raises(InvalidParameter, match="not an absolute path"):
        check_inputs(local, ["logs/a.log"], user_id=2, admin=False)
    with pytest.raises(InvalidParameter, match="control characters"):
        check_inputs(local, [f"{srv}/a\x00b"], user_id=2, admin=False)
    for encoded in ("%00", "%0A", "%7f"):  # percent-decoded in file:// URLs (was a 500)
        with pytest.raises(InvalidParameter, match="control characters"):
            check_inputs(local, [f"file://{srv}/a{encoded}b"], user_id=2, admin=False)


def test_the_data_dir_and_others_storage_are_refused(local: Settings, tmp_path: Path) -> None:
    srv, data = tmp_path / "srv", tmp_path / "srv" / "ff"
    own = data / "storage" / "uploads" / "2" / "0123456789abcdef"
    assert check_inputs(local, [str(own)], user_id=2, admin=False) == [
        "upload://2/0123456789abcdef"
    ]
    refused = [
        (str(srv), "holds FusionFlow's storage"),  # would list everyone's uploads
        (str(data / "secret_key"), "data folder is not an input"),
        (str(data / "fusionflow.db"), "data folder is not an input"),
        (str(data / "storage" / "uploads" / "3"), "only your own uploads"),
        (str(data / "storage" / "results" / "abc"), "only your own uploads"),
        (str(data / "storage" / "uploads"), "only your own uploads"),
    ]
    for item, reason in refused:
        # Users are not told why: the reasons would show where FusionFlow keeps its data.
        with pytest.raises(Forbidden) as for_user:
            check_inputs(local, [item], user_id=2, admin=False, granted=[str(srv)])
        assert str(for_user.value) == f"{item}: not granted to you (an admin can grant it)"
        if "data folder" in reason:
            with pytest.raises(Forbidden, match=reason):
                check_inputs(local, [item], user_id=1, admin=True)
    # Admins may read all storage, and trees holding it, but never the data dir's secrets.
    assert check_inputs(local, [str(srv)], user_id=1, admin=True) == [str(srv)]
    check_inputs(local, [str(data / "storage" / "uploads" / "3")], user_id=1, admin=True)
    with pytest.raises(Forbidden, match="data folder"):
        check_inputs(local, [str(data / "secret_key")], user_id=1, admin=True)


def test_s3_inputs_are_made_canonical_before_the_storage_check(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, storage_url="s3://b/ff", allowed_roots=["s3://other"])
    own = "s3://b/ff/uploads/2/0123456789abcdef"
    assert check_inputs(settings, [own], user_id=2, admin=False) == ["upload://2/0123456789abcdef"]
    assert check_inputs(
        settings, ["s3://other//logs/"], user_id=2, admin=False, granted=["s3://other/logs/"]
    ) == ["s3://other/logs"]
    for alias in ("s3://b//ff/uploads/3", "s3://b/ff//results/x", "s3://b", "s3://b/", "s3://b/ff"):
        with pytest.raises(Forbidden):
            check_inputs(settings, [alias], user_id=2, admin=False)
    for bad in ("s3://b/ff/uploads/2/../3", "s3://b/./ff", "s3:///key"):
        with pytest.raises(InvalidParameter):
            check_inputs(settings, [bad], user_id=2, admin=False)
    assert check_inputs(settings, ["s3://b//ff/uploads/3"], user_id=1, admin=True) == [
        "s3://b/ff/uploads/3"
    ]


def test_uploads_are_named_by_their_owner_and_batch_never_by_the_servers_folders(
    local: Settings,
) -> None:
    batch = "0123456789abcdef"
    own = f"upload://2/{batch}/logs/app.log"
    assert check_inputs(local, [own, f"upload://2//{batch}/"], user_id=2, admin=False) == [
        own,
        f"upload://2/{batch}",
    ]
    # A path into one's own uploads is shown by its name, so a job never holds the path.
    real = Path(local.storage) / "uploads" / "2" / batch / "logs" / "app.log"
    assert check_inputs(local, [str(real)], user_id=2, admin=False) == [own]
    with pytest.raises(Forbidden, match="only your own uploads"):
        check_inputs(local, [f"upload://3/{batch}"], user_id=2, admin=False)
    assert check_inputs(local, [f"upload://3/{batch}"], user_id=1, admin=True) == [
        f"upload://3/{batch}"
    ]
    for bad in (
        "upload://",
        "upload://x/",
        "upload://\u00b3",  # a digit to str.isdigit, not to int()
        f"upload://2/{batch}/../../3",
        f"upload://2/{batch}/./a",
        "upload://2/not-a-batch",
        f"upload://2/{batch}/.app.log.partial",  # being written
    ):
        with pytest.raises(InvalidParameter, match="is not an upload"):
            check_inputs(local, [bad], user_id=2, admin=False)


def test_only_admins_are_told_the_servers_allowed_roots(local: Settings, tmp_path: Path) -> None:
    srv = str(tmp_path / "srv")
    for item, granted in (("/etc", [srv]), (f"{srv}/logs", []), (f"{srv}/logs", ["/etc"])):
        with pytest.raises(Forbidden) as for_user:
            check_inputs(local, [item], user_id=2, admin=False, granted=granted)
        # The same words whether the ceiling or the grants refuse it; no other place named.
        assert str(for_user.value) == f"{item}: not granted to you (an admin can grant it)"
    roots = re.escape(f"outside FUSIONFLOW_ALLOWED_ROOTS ({srv})")
    with pytest.raises(Forbidden, match=roots):
        check_inputs(local, ["/etc"], user_id=1, admin=True)
    # Under the ceiling, admins read without grants.
    assert check_inputs(local, [f"{srv}/logs"], user_id=1, admin=True) == [f"{srv}/logs"]


def test_a_grant_covers_its_folder_and_what_lies_under_it_not_its_siblings(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "ff", allowed_roots=["s3://bucket/", str(tmp_path)])
    granted = ["s3://bucket/prefix/", str(tmp_path / "team")]
    (tmp_path / "team").mkdir()
    (tmp_path / "team-old").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "team" / "escape").symlink_to(tmp_path / "other")

    def reads(item: str) -> list[str]:
        return check_inputs(settings, [item], user_id=2, admin=False, granted=granted)

    assert reads("s3://bucket/prefix") == ["s3://bucket/prefix"]
    assert reads("s3://bucket//prefix/2026/a.csv") == ["s3://bucket/prefix/2026/a.csv"]
    assert reads(str(tmp_path / "team")) == [str(tmp_path / "team")]
    for refused in (
        "s3://bucket/pre",
        "s3://bucket/prefix2/a.csv",
        "s3://bucket/",
        "s3://payroll/2026/salaries.csv",
        "s3://bucket2/prefix/a",
        str(tmp_path / "team-old"),
        str(tmp_path / "team" / "escape"),  # a link out of the granted folder
        str(tmp_path / "other"),
    ):
        with pytest.raises(Forbidden, match="not granted to you"):
            reads(refused)
    # A grant beyond the ceiling gives nothing past it.
    narrow = settings.model_copy(update={"allowed_roots": ["s3://bucket/prefix/2026"]})
    assert check_inputs(
        narrow, ["s3://bucket/prefix/2026/a"], user_id=2, admin=False, granted=granted
    ) == ["s3://bucket/prefix/2026/a"]
    with pytest.raises(Forbidden):
        check_inputs(narrow, ["s3://bucket/prefix/2025"], user_id=2, admin=False, granted=granted)


def test_a_location_is_kept_canonical(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert canonical_location("s3://b//logs/x/") == "s3://b/logs/x"
    assert canonical_location(f"{tmp_path}/link/") == str(tmp_path / "real")
    assert canonical_location(f"file://{tmp_path}/link") == str(tmp_path / "real")
    for bad in ("logs", "s3://b/../c", "s3://", "/a\x00b"):
        with pytest.raises(InvalidParameter, match="`location`"):
            canonical_location(bad)


def test_files_outside_a_jobs_inputs_are_found(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "sub" / "a.log").write_text("a\n")
    (tmp_path / "out" / "b.log").write_text("b\n")
    (tmp_path / "in" / "swapped").symlink_to(tmp_path / "out")
    inputs = [str(tmp_path / "in"), "s3://b/logs", "upload://2/0123456789abcdef"]
    files = [
        str(tmp_path / "in" / "sub" / "a.log"),
        str(tmp_path / "in" / "swapped" / "b.log"),  # a folder swapped for a link
        str(tmp_path / "out" / "b.log"),
        "s3://b/logs/2026/x.log",
        "s3://b/logs-old/x.log",
        "s3://b/logs/../secret/x",
        "upload://2/0123456789abcdef/app.log",
        "upload://3/0123456789abcdef/app.log",
    ]
    assert outside_inputs(files, inputs) == [
        str(tmp_path / "in" / "swapped" / "b.log"),
        str(tmp_path / "out" / "b.log"),
        "s3://b/logs-old/x.log",
        "s3://b/logs/../secret/x",
        "upload://3/0123456789abcdef/app.log",
    ]


def test_links_that_loop_or_were_swapped_in_since_widen_nothing(tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    (srv / "team").mkdir(parents=True)
    (srv / "secret").mkdir()
    (srv / "secret" / "x").write_text("payroll\n")
    settings = Settings(data_dir=tmp_path / "ff", allowed_roots=[str(srv)])
    granted = [str(srv / "team")]
    # realpath stops at a loop and leaves the rest as written: loop/../out reads as a
    # place under the grant, and is not.
    (srv / "team" / "loop").symlink_to(srv / "team" / "loop")
    (srv / "team" / "out").symlink_to(srv / "secret")
    for item in (f"{srv}/team/loop/../out/x", f"{srv}/team/loop"):
        with pytest.raises(Forbidden, match="not granted"):
            check_inputs(settings, [item], user_id=2, admin=False, granted=granted)
    with pytest.raises(InvalidParameter, match="its links loop"):
        canonical_location(f"{srv}/team/loop/../out")
    # A granted folder swapped for a link since it was granted covers no more.
    (srv / "team").rename(srv / "team-old")
    (srv / "team").symlink_to(srv / "secret")
    with pytest.raises(Forbidden, match="not granted"):
        check_inputs(settings, [f"{srv}/team/x"], user_id=2, admin=False, granted=granted)


def test_a_jobs_input_swapped_for_a_link_since_submit_covers_nothing(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root\n")
    inputs = [canonical_input(str(tmp_path / "mine"))]  # as checked at submit
    (tmp_path / "mine").rmdir()
    (tmp_path / "mine").symlink_to(tmp_path / "etc")
    # The walk follows the root link and lists what is behind it: none of it is read.
    assert outside_inputs([str(tmp_path / "mine" / "passwd")], inputs) == [
        str(tmp_path / "mine" / "passwd")
    ]
    # Scripts' inputs are made canonical when submitted, as the API's are.
    assert canonical_input(f"file://{tmp_path}/etc/") == str(tmp_path / "etc")
    assert canonical_input("s3://b//logs/") == "s3://b/logs"
    assert canonical_input("upload://2/0123456789abcdef") == "upload://2/0123456789abcdef"
