"""extract-text on public documents (`../shared/realworld/pdf/`), next to pdftotext."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

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


def pdftotext(pdf: Path) -> str:
    tool = require("pdftotext", shutil.which("pdftotext"), "apt-get install poppler-utils")
    return subprocess.run([tool, pdf, "-"], capture_output=True, check=True, text=True).stdout


def recall(pdf: Path, out: Path) -> float:
    """The share of pdftotext's words (with repeats) in our text of ``pdf``."""
    fusionflow.run("extract-text", [pdf], {}, out)
    ours = Counter((out / f"{pdf.name}.txt").read_text().split())
    theirs = Counter(pdftotext(pdf).split())
    return sum((theirs & ours).values()) / sum(theirs.values())


@pytest.mark.parametrize(
    ("name", "least"),
    [
        ("freetexts.pdf", 1.0),  # FreeText annotations: 0 of 26 words before
        # Text and choice fields, a comb field's letters in their cells: 0.17 before.
        ("annotation-text-widget.pdf", 1.0),
        ("multimedia_annotations.pdf", 1.0),  # labels the players' appearances show: 0.80
        ("issue17492.pdf", 1.0),  # check marks of buttons, a combo box's choice: 0.96
        ("prefilled_f1040.pdf", 0.99),  # a filled-in tax form: 0.87 before
        ("issue1905.pdf", 0.97),  # a table with rotated headings: 0.86 before
        ("blendmode.pdf", 1.0),  # table cells glued ("NormalHardLight"): 0.30 before
        ("calgray.pdf", 1.0),  # "0.75A": 0.51 before
        ("standard_fonts.pdf", 0.99),  # 0.10 before
        ("bug946506.pdf", 0.95),  # rotated text past the crop box: 0.74 before
        ("bug1606566.pdf", 1.0),  # no %PDF- header: refused before
        # A crop box around one word of 723: 0.001 before. The rest: pdftotext joins words
        # hyphenated at line ends ("com-" "pile"), FusionFlow keeps them as the page shows.
        ("issue16316.pdf", 0.97),
        ("boundingBox_invalid.pdf", 1.0),  # page 3's crop box of no area: 0.444 before
    ],
)
def test_pdf_text_holds_the_words_pdftotext_gives(
    name: str, least: float, realworld: Path, tmp_path: Path
) -> None:
    assert recall(realworld / "pdf" / name, tmp_path / "out") >= least


def test_no_page_holds_fewer_words_than_pdftotext_reads_on_it(
    realworld: Path, tmp_path: Path
) -> None:
    pdfs = sorted((realworld / "pdf").glob("*.pdf"))
    assert len(pdfs) >= 25
    fusionflow.run("extract-text", pdfs, {}, tmp_path / "out")
    short, unread = {}, []
    for pdf in pdfs:
        text = tmp_path / "out" / f"{pdf.name}.txt"
        if not text.is_file():
            unread.append(pdf.name)  # (its error is tested apart)
            continue
        ours = text.read_text(errors="replace").split("\f")
        theirs = pdftotext(pdf).split("\f")
        assert len(ours) == len(theirs), pdf.name
        for page, (mine, reference) in enumerate(zip(ours, theirs, strict=True), 1):
            have, want = len(mine.split()), len(reference.split())
            if have < want - max(2, want // 50):  # a small tolerance: 2 %, or 2 words
                short[(pdf.name, page)] = (have, want)
    assert unread == ["poppler-67295-0.pdf"]
    assert short == {}


def test_a_nul_in_the_text_ends_nothing(realworld: Path, tmp_path: Path) -> None:
    # Poppler's GLib text call returns a C string: a glyph read as U+0000 ended page 6
    # there, and its last 485 characters (a paragraph of Japanese among them) were lost.
    pdf = realworld / "pdf" / "issue19971.pdf"
    fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    page = (tmp_path / "out" / f"{pdf.name}.txt").read_text().split("\f")[5]
    theirs = pdftotext(pdf).split("\f")[5]
    assert "\x00" in theirs
    assert theirs.rstrip().endswith("と機会へのより深い理解を得ることができます。")
    assert page.rstrip().endswith("と機会へのより深い理解を得ることができます。")
    assert "\x00" not in page  # (pdftotext writes it; it is left out here)
    assert len(page.split()) >= len(theirs.split()) - 2


@pytest.mark.parametrize("name", ["issue6127.pdf", "issue12963.pdf", "i1040nr.pdf"])
def test_a_page_with_annotations_keeps_its_own_text(
    name: str, realworld: Path, tmp_path: Path
) -> None:
    # Their pages' contents are a reference to an array of streams: drawing the
    # annotations after them nested that reference, and the page's own text was lost
    # (0 of 337, 135 and 332 words) while the job reported success.
    assert recall(realworld / "pdf" / name, tmp_path / "out") >= 0.99


def test_form_field_values_follow_their_page_text(realworld: Path, tmp_path: Path) -> None:
    pdf = realworld / "pdf" / "annotation-text-widget.pdf"
    fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    text = (tmp_path / "out" / f"{pdf.name}.txt").read_text()
    label = text.index("Single line, unlimited length")
    assert text.index("Lorem ipsum dolor sit amet, consectetur adipiscing elit.") > label
    assert "Lorem ipsu\n" in text  # a field of 10 characters shows 10, as pdftotext


def test_right_to_left_lines_are_all_read_and_their_words_apart(
    realworld: Path, tmp_path: Path
) -> None:
    pdf = realworld / "pdf" / "ArabicCIDTrueType.pdf"
    fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    lines = (tmp_path / "out" / f"{pdf.name}.txt").read_text().splitlines()
    theirs = [line for line in pdftotext(pdf).splitlines() if line]
    # Four lines in four fonts; selected the usual way, poppler's GLib text page gave two.
    assert len(theirs) == 4
    assert lines[:4] == theirs
    assert not "".join(lines[4:]).strip()


def test_each_page_holds_its_text_past_its_crop_box(realworld: Path, tmp_path: Path) -> None:
    pdf = realworld / "pdf" / "boundingBox_invalid.pdf"  # page 3: a crop box of no area
    fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    ours = (tmp_path / "out" / f"{pdf.name}.txt").read_text().split("\f")
    theirs = pdftotext(pdf).split("\f")
    assert len(ours) == len(theirs) == 4  # three pages, each ended by a form feed
    for page, (mine, reference) in enumerate(zip(ours, theirs, strict=True), 1):
        assert mine.split() == reference.split(), f"page {page}"
    assert theirs[2].split()  # the page is not empty in pdftotext's text


def test_a_crop_box_from_the_page_tree_hides_no_text(tmp_path: Path) -> None:
    # The crop box is inherited from the page tree node: the page itself names none.
    pdf = tmp_path / "cropped.pdf"
    pdf.write_bytes(
        pdf_file(
            [
                "<< /Type /Catalog /Pages 2 0 R >>",
                "<< /Type /Pages /Kids [3 0 R] /Count 1 /CropBox [0 0 100 100] >>",
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R "
                f"/Resources << /Font << /F1 {HELVETICA} >> >> >>",
                stream("BT /F1 12 Tf 20 20 Td (inside) Tj 0 200 Td (outside) Tj ET"),
            ]
        )
    )
    fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    assert (tmp_path / "out" / "cropped.pdf.txt").read_text().split() == ["outside", "inside"]
    assert pdftotext(pdf).split() == ["outside", "inside"]


HELVETICA = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def stream(content: str) -> str:
    return f"<< /Length {len(content)} >>\nstream\n{content}\nendstream"


def pdf_file(objects: list[str]) -> bytes:
    """A PDF of ``objects`` (numbered from 1, the first the catalog) and its xref table."""
    out = b"%PDF-1.7\n"
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def form_pdf(fields: list[tuple[str, str, int]], *, drawn: bool = False) -> bytes:
    """A one-page PDF with a text field (name, value, field flags) per entry; ``drawn``: each
    with an appearance stream showing its value (as a careless writer might, passwords too).
    """
    objects = [
        "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [{kids}] >> >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R "
        f"/Resources << /Font << /F1 {HELVETICA} >> >> "
        "/Annots [{kids}] >>",
        stream("BT /F1 12 Tf 20 250 Td (Sign in) Tj ET"),
    ]
    kids = " ".join(f"{5 + n} 0 R" for n in range(len(fields)))
    for n, (name, value, flags) in enumerate(fields):
        shown = f"/AP << /N {5 + len(fields) + n} 0 R >>" if drawn else ""
        objects.append(
            f"<< /Type /Annot /Subtype /Widget /FT /Tx /T ({name}) /V ({value}) /Ff {flags} "
            f"/Rect [20 {200 - 40 * n} 200 {220 - 40 * n}] /P 3 0 R /DA (/F1 10 Tf 0 g) {shown}>>"
        )
    for _, value, _ in fields if drawn else []:
        form = stream(f"BT /F1 10 Tf 2 5 Td ({value}) Tj ET")
        objects.append(
            form.replace(
                "<<", f"<< /BBox [0 0 180 20] /Resources << /Font << /F1 {HELVETICA} >> >>", 1
            )
        )
    return pdf_file([body.replace("{kids}", kids) for body in objects])


@pytest.mark.parametrize("drawn", [False, True], ids=["value", "appearance"])
def test_a_password_field_is_never_written(drawn: bool, tmp_path: Path) -> None:
    pdf = tmp_path / "login.pdf"
    password = 1 << 13  # field flag 14: a password, shown as dots
    fields = [("user", "alice", 0), ("secret", "hunter2", password)]
    pdf.write_bytes(form_pdf(fields, drawn=drawn))
    fusionflow.run("extract-text", [pdf], {}, tmp_path / "out")
    words = (tmp_path / "out" / "login.pdf.txt").read_text().split()
    assert words.count("alice") == 1  # drawn or read from its value, written once
    assert "Sign" in words
    assert "hunter2" not in words
    if drawn:
        assert "hunter2" in pdftotext(pdf)  # what a careless appearance would leak
