"""``extract-text``: known text from generated documents, page counts, reading order,
encodings, and bad, hostile or hanging files reported per file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import fusionflow
from fusionflow import _core
from fusionflow.errors import InvalidParameter
from fusionflow.pipelines.extract_text import WORKER_COMMAND
from tests.conftest import ROOT


def _gen_docs() -> Any:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "bench" / "gen_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_docs = _gen_docs()


def extract(inputs: list[Path], out: Path, **params: Any) -> dict[str, Any]:
    summary: dict[str, Any] = fusionflow.run(
        "extract-text", inputs=[str(i) for i in inputs], params=params, output=out
    )
    return summary


def documents(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "documents.jsonl").read_text().splitlines()
    return {Path(d["path"]).name: d for d in map(json.loads, lines)}


@pytest.mark.parametrize("isolate", [True, False])
def test_pdf_text_is_complete_in_reading_order_with_exact_pages(
    tmp_path: Path, isolate: bool
) -> None:
    src = tmp_path / "pdfs"
    src.mkdir()
    truths = {
        "one-column.pdf": gen_docs.write_pdf(src / "one-column.pdf", 1, pages=7, columns=1),
        "two-columns.pdf": gen_docs.write_pdf(src / "two-columns.pdf", 2, pages=5, columns=2),
    }
    out = tmp_path / "out"
    summary = extract([src], out, isolate=isolate)
    assert (summary["files_extracted"], summary["errors"]) == (2, [])
    assert summary["pages"] == 12
    assert summary["isolated"] is isolate
    found = documents(out)
    for name, truth in truths.items():
        text = (out / f"{name}.txt").read_text()
        lines = [line for page in truth["pages"] for line in page]
        assert gen_docs.recall("\n".join(lines), text) >= 0.99, name
        # Lines in reading order: a column is read down before the next (read across, two
        # columns would keep about half the lines in order; pdftotext, on the same engine,
        # also moves a few paragraphs of two-column pages).
        assert gen_docs.in_order(lines, text) >= (0.99 if "one" in name else 0.9), name
        if truth["columns"] == 1:  # line for line pdftotext's text (less its blank lines)
            reference = subprocess.run(
                ["pdftotext", str(src / name), "-"], capture_output=True, text=True, check=True
            )
            assert text.split("\n") == [line for line in reference.stdout.split("\n") if line]
        assert found[name]["pages"] == len(truth["pages"]) == text.count("\f")
        # Each page's text sits between its form feeds.
        for page_text, page_lines in zip(text.split("\f"), truth["pages"], strict=False):
            assert gen_docs.recall("\n".join(page_lines), page_text) >= 0.99
        assert found[name]["format"] == "pdf"
        assert found[name]["language"] == "eng"
        assert found[name]["characters"] == len(text)


def test_docx_odt_html_and_text_in_any_encoding(tmp_path: Path) -> None:
    import docx

    src = tmp_path / "docs"
    src.mkdir()
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew by 12% in the café business.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "north"
    table.rows[0].cells[1].text = "south"
    document.save(src / "report.docx")
    with zipfile.ZipFile(src / "notes.odt", "w") as odt:
        odt.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        odt.writestr(
            "content.xml",
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
            'office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
            "<office:body><office:text><text:h>Minutes</text:h>"
            "<text:p>Decided<text:s/>to ship &amp; celebrate.</text:p>"
            "</office:text></office:body></office:document-content>",
        )
    (src / "page.html").write_text(
        "<html><head><title>Status</title><script>var x = '<p>hidden</p>';</script>"
        "<style>p { color: red }</style></head><body><h1>All systems go</h1>"
        "<p>Latency &lt; 20&nbsp;ms</p></body></html>"
    )
    (src / "latin1.txt").write_bytes("Le café déjà servi à la fenêtre.".encode("latin-1"))
    (src / "utf16.md").write_text("# Überschrift\n\nGrüße aus Zürich\n", encoding="utf-16")
    out = tmp_path / "out"
    summary = extract([src], out)
    assert summary["errors"] == []
    assert summary["formats"] == {"docx": 1, "html": 1, "odt": 1, "text": 2}
    report = (out / "report.docx.txt").read_text()
    assert report.splitlines()[:2] == [
        "Quarterly report",
        "Revenue grew by 12% in the café business.",
    ]
    assert "north" in report
    assert "south" in report
    assert (out / "notes.odt.txt").read_text() == "Minutes\nDecided to ship & celebrate.\n"
    html = (out / "page.html.txt").read_text()
    assert html == "Status\nAll systems go\nLatency < 20 ms\n"  # &nbsp; is a space
    assert (out / "latin1.txt.txt").read_text() == "Le café déjà servi à la fenêtre."
    assert (out / "utf16.md.txt").read_text() == "# Überschrift\n\nGrüße aus Zürich\n"
    found = documents(out)
    assert found["latin1.txt"]["encoding"] == "windows-1252"
    assert found["utf16.md"]["encoding"] == "UTF-16LE"
    assert found["report.docx"]["pages"] is None


def test_bad_documents_are_reported_per_file(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    src = tmp_path / "in"
    src.mkdir()
    gen_docs.write_pdf(src / "good.pdf", 3, pages=2, columns=1)
    writer = PdfWriter(clone_from=PdfReader(src / "good.pdf"))
    writer.encrypt("secret")
    writer.write(src / "locked.pdf")
    (src / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    (src / "empty.pdf").write_bytes(b"")
    (src / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40))
    (src / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    from reportlab.pdfgen import canvas

    blank = canvas.Canvas(str(src / "scan.pdf"))
    blank.rect(100, 100, 200, 200, fill=1)  # a page with no text layer (a scan, say)
    blank.showPage()
    blank.save()
    out = tmp_path / "out"
    summary = extract([src], out)
    errors = {Path(e["path"]).name: e["error"] for e in summary["errors"]}
    assert errors["locked.pdf"] == "encrypted PDF (a password is needed)"
    assert errors["corrupt.pdf"].startswith("corrupt PDF")
    assert errors["empty.pdf"] == "empty file"
    assert errors["photo.png"].startswith("unsupported format")
    assert errors["broken.docx"].startswith("unsupported format")  # not a readable zip
    assert set(errors) == {"locked.pdf", "corrupt.pdf", "empty.pdf", "photo.png", "broken.docx"}
    found = documents(out)
    assert (found["scan.pdf"]["pages"], found["scan.pdf"]["characters"]) == (1, 1)  # "\f"
    assert found["scan.pdf"]["error"] is None
    assert found["locked.pdf"]["output"] is None
    assert summary["files_total"] == summary["files_extracted"] + len(errors) == 7
    assert sorted(p.name for p in out.iterdir()) == [
        "documents.jsonl",
        "good.pdf.txt",
        "scan.pdf.txt",
        "summary.json",
    ]


def test_formats_select_what_is_read(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    gen_docs.write_pdf(src / "a.pdf", 4, pages=1, columns=1)
    (src / "b.txt").write_text("text")
    (src / "c.html").write_text("<p>html</p>")
    summary = extract([src], tmp_path / "out", formats=["pdf", "html"])
    assert (summary["files_extracted"], summary["files_not_selected"]) == (2, 1)
    assert summary["skipped"] == [
        {"path": str(src / "b.txt"), "reason": "format text not selected"}
    ]


def _run_with_worker(tmp_path: Path, command: list[str], timeout_s: float = 30) -> dict[str, Any]:
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    (src / "a.txt").write_text("first")
    (src / "b.txt").write_text("second")
    options = json.dumps({"timeout_s": timeout_s})
    summary: dict[str, Any] = json.loads(
        _core.extract_text([src], tmp_path / "out", options, threads=1, worker_command=command)
    )
    return summary


def test_a_parser_that_hangs_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    hangs = [sys.executable, "-c", "import time; time.sleep(60)"]
    summary = _run_with_worker(tmp_path, hangs, timeout_s=0.5)
    assert [e["error"] for e in summary["errors"]] == [
        "timed out after 0.5 s (the parser was stopped)"
    ] * 2
    assert summary["elapsed_s"] < 10


def test_a_parser_that_crashes_costs_one_file_and_is_replaced(tmp_path: Path) -> None:
    # The first worker dies on its first file; the next one works.
    marker = tmp_path / "crashed-once"
    flaky = [
        sys.executable,
        "-c",
        f"import os, pathlib, sys\nm = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n    m.touch(); sys.stdin.buffer.readline(); os.abort()\n"
        + "\n".join(WORKER_COMMAND[2].split("; ")),
    ]
    summary = _run_with_worker(tmp_path, flaky)
    assert summary["files_extracted"] == 1
    (error,) = summary["errors"]
    assert error["error"].startswith("the parser crashed (signal: 6")
    assert Path(error["path"]).name == "a.txt"
    assert (tmp_path / "out" / "b.txt.txt").read_text() == "second"


def test_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="formats"):
        extract([tmp_path], tmp_path / "out", formats=["pptx"])
    with pytest.raises(InvalidParameter, match="timeout_s"):
        extract([tmp_path], tmp_path / "out", timeout_s=0)
    with pytest.raises(InvalidParameter, match="worker command"):
        _core.extract_text([tmp_path], tmp_path / "out", "{}", worker_command=[])


def test_names_compression_and_size_limits(tmp_path: Path) -> None:
    import gzip

    for root in ("2023/reports", "2024/reports"):
        (tmp_path / root).mkdir(parents=True)
        (tmp_path / root / "README.md").write_text(f"notes of {root}")
    (tmp_path / "2024" / "reports" / "log.txt.gz").write_bytes(gzip.compress(b"zipped words"))
    (tmp_path / "2024" / "reports" / "big.txt.gz").write_bytes(gzip.compress(bytes(3 << 20)))
    out = tmp_path / "out"
    summary = extract(
        [tmp_path / "2023" / "reports", tmp_path / "2024" / "reports"],
        out,
        max_file_bytes=1 << 20,
    )
    errors = {e["path"].split(str(tmp_path))[1]: e["error"] for e in summary["errors"]}
    assert errors == {
        "/2024/reports/README.md": "output reports/README.md.txt is already written for "
        f"{tmp_path}/2023/reports/README.md",
        "/2024/reports/big.txt.gz": "larger than max_file_bytes (1048576) once decompressed",
    }
    assert (out / "reports" / "README.md.txt").read_text() == "notes of 2023/reports"
    assert (out / "reports" / "log.txt.gz.txt").read_text() == "zipped words"  # as text
    assert summary["files_total"] == summary["files_extracted"] + len(errors) == 4
