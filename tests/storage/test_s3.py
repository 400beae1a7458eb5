"""Storage on a real S3-compatible server (moto's, on loopback): listings read to the last
page, multipart uploads, server-side encryption on every write, presigned links, errors,
and jobs that read their inputs from S3 and keep their outputs there."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import fusionflow
from fusionflow import _core, storage
from fusionflow.config import Settings
from fusionflow.db import Artifact, Database, Shard
from fusionflow.errors import TransientError
from fusionflow.executors import LocalExecutor
from fusionflow.jobs import JobInfo
from tests.conftest import s3_settings
from tests.servers import FaultyProxy, free_port


@pytest.fixture
def s3(settings: Settings, s3_endpoint: str) -> Settings:
    configured = s3_settings(settings, s3_endpoint)
    storage.configure(configured)
    return configured


def test_a_listing_is_read_to_the_last_page(s3: Settings, s3_client: Any, bucket: str) -> None:
    for i in range(1234):
        s3_client.put_object(Bucket=bucket, Key=f"logs/{i:05}.log", Body=b"x" * (i % 7))
    s3_client.put_object(Bucket=bucket, Key="logs/.hidden.log", Body=b"h")
    s3_client.put_object(Bucket=bucket, Key="other/a.log", Body=b"not under the prefix")
    found = storage.list_files(f"s3://{bucket}/logs")
    assert len(found) == 1235
    assert found[0] == (f"s3://{bucket}/logs/.hidden.log", 1)
    assert found[1:] == [(f"s3://{bucket}/logs/{i:05}.log", i % 7) for i in range(1234)]
    # Planning a job lists S3 the way it walks a tree: filters, hidden files left out.
    files, skipped = _core.list_files([f"s3://{bucket}/logs/"], include=["0000*.log"])
    assert [str(f) for f, _ in files] == [f"s3://{bucket}/logs/{i:05}.log" for i in range(10)]
    assert skipped == []


def test_large_files_go_up_in_parts_encrypted_and_come_back_whole(
    s3: Settings, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    assert storage.put_file(big, f"s3://{bucket}/out/big.bin") == 20 << 20
    head = s3_client.head_object(Bucket=bucket, Key="out/big.bin")
    assert head["ContentLength"] == 20 << 20
    assert "-" in head["ETag"]  # a multipart upload's ETag
    assert head["ServerSideEncryption"] == "AES256"

    small = tmp_path / "small.txt"
    small.write_text("hello\n")
    storage.put_file(small, f"s3://{bucket}/out/small.txt")
    assert s3_client.head_object(Bucket=bucket, Key="out/small.txt")["ServerSideEncryption"] == (
        "AES256"
    )
    _core.storage_put_bytes(f"s3://{bucket}/out/note", b"n")
    assert s3_client.head_object(Bucket=bucket, Key="out/note")["ServerSideEncryption"] == "AES256"

    back = tmp_path / "back.bin"
    assert storage.get_file(f"s3://{bucket}/out/big.bin", back) == 20 << 20
    assert back.read_bytes() == big.read_bytes()
    assert _core.storage_get_bytes(f"s3://{bucket}/out/small.txt") == b"hello\n"


def test_sse_kms_when_configured(
    settings: Settings, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/fusionflow-test"
    storage.configure(s3_settings(settings, s3_endpoint, s3_sse="aws:kms", s3_sse_kms_key_id=key))
    _core.storage_put_bytes(f"s3://{bucket}/secret", b"s")
    head = s3_client.head_object(Bucket=bucket, Key="secret")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key


def test_presigned_links_download_without_credentials(s3: Settings, bucket: str) -> None:
    _core.storage_put_bytes(f"s3://{bucket}/r/report.txt", b"the report\n")
    link = storage.presign(f"s3://{bucket}/r/report.txt", 60)
    assert link is not None
    assert "X-Amz-Signature=" in link
    with urllib.request.urlopen(link) as response:
        assert response.read() == b"the report\n"
    assert storage.presign("/local/file") is None


def test_missing_objects_and_deleting_a_prefix(s3: Settings, s3_client: Any, bucket: str) -> None:
    with pytest.raises(FileNotFoundError):
        _core.storage_size(f"s3://{bucket}/nothing")
    with pytest.raises(FileNotFoundError):
        storage.list_files(f"s3://{bucket}/nothing")
    for i in range(3):
        s3_client.put_object(Bucket=bucket, Key=f"job/{i}", Body=b"p")
    s3_client.put_object(Bucket=bucket, Key="jobs-other/keep", Body=b"k")
    storage.remove_tree(f"s3://{bucket}/job")
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["jobs-other/keep"]


def test_an_unreachable_server_is_a_transient_error(settings: Settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    storage.configure(s3_settings(settings, closed, s3_max_retries=0))
    with pytest.raises(TransientError, match="s3://b/k"):
        _core.storage_size("s3://b/k")


def upload_tree(s3_client: Any, bucket: str, root: Path, prefix: str) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(root).as_posix()}"
        s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def test_a_job_reads_inputs_from_s3_and_keeps_outputs_there(
    settings: Settings,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    db: Database,
    log_corpus: Path,
    tmp_path: Path,
) -> None:
    upload_tree(s3_client, bucket, log_corpus, "in/logs")
    on_s3 = s3_settings(settings, s3_endpoint, storage_url=f"s3://{bucket}/fusionflow")
    executor = LocalExecutor(db, on_s3).start()
    try:
        params = {"patterns": ["ERROR", "FATAL"]}
        job = executor.jobs.submit("grep", [f"s3://{bucket}/in/logs"], params)
        done = executor.jobs.wait(job.id, timeout=120)
    finally:
        executor.close()
    assert done.status == "completed", done.error
    assert done.shards_total > 3
    assert done.output_url == f"s3://{bucket}/fusionflow/results/{job.id}"

    expected = fusionflow.run("grep", [str(log_corpus)], params, tmp_path / "run")
    matches = _core.storage_get_bytes(f"{done.output_url}/matches.txt")
    local_matches = (tmp_path / "run" / "matches.txt").read_bytes()
    assert matches == local_matches.replace(
        str(log_corpus).encode(), f"s3://{bucket}/in/logs".encode()
    )
    summary = json.loads(_core.storage_get_bytes(f"{done.output_url}/summary.json"))
    assert (summary["matches"], summary["files_total"]) == (
        expected["matches"],
        expected["files_total"],
    )
    head = s3_client.head_object(Bucket=bucket, Key=f"fusionflow/results/{job.id}/matches.txt")
    assert head["ServerSideEncryption"] == "AES256"
    with db.session() as session:
        urls = session.scalars(select(Artifact.url).where(Artifact.job_id == job.id)).all()
    assert sorted(urls) == [
        f"{done.output_url}/{name}" for name in ("matches.txt", "report.txt", "summary.json")
    ]
    # The shards' partials are gone once the job is done.
    assert storage.list_files(f"s3://{bucket}/fusionflow/results/{job.id}")
    leftover = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"fusionflow/work/{job.id}")
    assert leftover["KeyCount"] == 0


def run_behind_faulty_proxy(
    settings: Settings,
    s3_endpoint: str,
    db: Database,
    failures: int,
    fails: Callable[[str, str], bool],
    inputs: list[str],
) -> tuple[JobInfo, int]:
    """A grep job over ``inputs`` whose first ``failures`` requests matching ``fails``
    get a 503; returns the finished job and how many 503s were sent."""
    injected = {"left": failures}

    def should_fail(method: str, path: str) -> bool:
        if fails(method, path) and injected["left"]:
            injected["left"] -= 1
            return True
        return False

    with FaultyProxy(s3_endpoint, should_fail) as proxy:
        # No retries inside the client: every injected 503 reaches the job.
        flaky = s3_settings(settings, proxy.url, s3_max_retries=0)
        executor = LocalExecutor(db, flaky).start()
        try:
            job = executor.jobs.submit("grep", inputs, {"patterns": ["E"]})
            done = executor.jobs.wait(job.id, timeout=60)
        finally:
            executor.close()
    return done, proxy.failures


@pytest.mark.parametrize(("failures", "outcome"), [(2, "completed"), (3, "failed")])
def test_storage_errors_are_retried_three_times_with_attempts_recorded(
    failures: int,
    outcome: str,
    settings: Settings,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    db: Database,
) -> None:
    s3_client.put_object(Bucket=bucket, Key="in/app.log", Body=b"ok\nERROR boom\n")
    done, sent = run_behind_faulty_proxy(
        settings,
        s3_endpoint,
        db,
        failures,
        lambda method, path: method == "GET" and path.startswith(f"/{bucket}/in/"),
        [f"s3://{bucket}/in/app.log"],
    )
    assert sent == failures
    assert done.status == outcome, done.error
    with db.session() as session:
        shard = session.scalars(select(Shard).where(Shard.job_id == done.id)).one()
    assert shard.attempts == 3
    if outcome == "failed":
        assert done.error is not None
        assert done.error.startswith(f"shard 0: s3://{bucket}/in/app.log: ")
        assert done.error.endswith("(after 3 attempts)")
    else:
        assert shard.error is None


@pytest.mark.parametrize(("failures", "outcome"), [(2, "completed"), (3, "failed")])
def test_listing_errors_while_planning_are_retried(
    failures: int,
    outcome: str,
    settings: Settings,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    db: Database,
) -> None:
    s3_client.put_object(Bucket=bucket, Key="in/app.log", Body=b"ERROR boom\n")
    done, sent = run_behind_faulty_proxy(
        settings,
        s3_endpoint,
        db,
        failures,
        lambda method, path: method == "GET" and "list-type=2" in path,
        [f"s3://{bucket}/in/"],
    )
    assert sent == failures
    assert done.status == outcome, done.error
    if outcome == "failed":
        assert done.error is not None
        # (the input as the job keeps it: canonical, as the shards compare files with it)
        assert done.error.startswith(f"planning: s3://{bucket}/in: ")
        assert done.error.endswith("(after 3 attempts)")


def test_a_resize_job_reads_photos_from_s3_and_writes_thumbnails_there(
    settings: Settings, s3_endpoint: str, s3_client: Any, bucket: str, db: Database, tmp_path: Path
) -> None:
    from tests.pipelines.images import quadrants

    photos = tmp_path / "photos"
    for name in ["2024/a.jpg", "2024/b.png", "2025/c.jpg"]:
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        quadrants(400, 300).save(photos / name)
    upload_tree(s3_client, bucket, photos, "in/photos")
    on_s3 = s3_settings(settings, s3_endpoint, storage_url=f"s3://{bucket}/fusionflow")
    executor = LocalExecutor(db, on_s3).start()
    try:
        params = {"max_width": 80, "format": "jpeg"}
        job = executor.jobs.submit("resize-images", [f"s3://{bucket}/in/photos"], params)
        done = executor.jobs.wait(job.id, timeout=120)
    finally:
        executor.close()
    assert done.status == "completed", done.error
    expected = fusionflow.run("resize-images", [str(photos)], params, tmp_path / "run")
    assert expected["files_resized"] == 3
    for name in ["2024/a.jpg", "2024/b.jpg", "2025/c.jpg"]:
        thumb = _core.storage_get_bytes(f"{done.output_url}/{name}")
        assert thumb == (tmp_path / "run" / name).read_bytes(), name
    manifest = _core.storage_get_bytes(f"{done.output_url}/manifest.jsonl").decode()
    assert [json.loads(line)["input"] for line in manifest.splitlines()] == [
        f"s3://{bucket}/in/photos/{name}" for name in ["2024/a.jpg", "2024/b.png", "2025/c.jpg"]
    ]
