"""extract-text on public documents (`../shared/realworld/pdf/`), next to pdftotext."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import fusionflow
from tests.servers import require


def test_a_pdf_whose_pages_cannot_be_read_is_an_error_not_an_empty_document(
    realworld: Path, tmp_path: Path
) -> None:
    pdf = realworld / "pdf" / "poppler-67295-0.pdf"  # a page count of -2147483648
    pdftotext = require("pdftotext", shutil.which("pdftotext"), "apt-get install poppler-utils")
    reference = subprocess.run([pdftotext, pdf, "-"], capture_output=True, check=False)
    assert reference.returncode == 99  # pdftotext refuses it too
    summary = fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    assert summary["files_extracted"] == 0
    (error,) = summary["errors"]
    assert error["path"] == str(pdf)
    assert "no page could be read" in error["error"]
    (document,) = [
        json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text().splitlines()
    ]
    assert document["error"] == error["error"]


def test_a_docx_text_box_is_written_once(realworld: Path, tmp_path: Path) -> None:
    # Word stores a text box twice: as DrawingML, and as VML in <mc:Fallback> for older
    # readers. Only the first is the document's text.
    docx = realworld / "docx" / "mammoth_text-box.docx"
    fusionflow.run("extract-text", [docx], {}, tmp_path / "out")
    text = (tmp_path / "out" / "mammoth_text-box.docx.txt").read_text()
    assert text.count("Datum plane") == 1
