"""csv-aggregate on published data sets (`../shared/realworld/csv/`), next to DuckDB."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb

import fusionflow


def one(sql: str) -> Any:
    """The single value a DuckDB query gives."""
    return duckdb.sql(sql).fetchall()[0][0]


def profile(csv: Path, out: Path) -> dict[str, dict[str, Any]]:
    summary = fusionflow.run("csv-aggregate", [csv], {}, out)
    return {column["column"]: column for column in summary["profile"]}


def test_repeated_column_names_stay_separate_columns_named_as_duckdb_names_them(
    realworld: Path, tmp_path: Path
) -> None:
    csv = realworld / "csv" / "aging-curve.csv"  # Decade,Age,Male,Female,Male,Female
    columns = profile(csv, tmp_path / "out")
    table = duckdb.sql(f"SELECT * FROM read_csv('{csv}')")
    assert list(columns) == sorted(table.columns)  # Male_1, Female_1 for the repeats
    rows = one(f"SELECT count(*) FROM read_csv('{csv}')")
    for name, column in columns.items():
        values = one(f"SELECT count(\"{name}\") FROM read_csv('{csv}')")
        assert (column["rows"], column["nulls"]) == (rows, rows - values), name


def test_a_value_of_only_spaces_is_null_so_a_number_column_is_numbers(
    realworld: Path, tmp_path: Path
) -> None:
    # TotalCharges holds 11 values of one space among 7,032 numbers. pandas then reads
    # the column as text, and DuckDB types it DOUBLE from a sample, then fails on the
    # first blank. A blank carries no value: null here, and the column is numbers.
    csv = realworld / "csv" / "telco-customer-churn-by-IBM.csv"
    column = profile(csv, tmp_path / "out")["TotalCharges"]
    assert column["inferred_type"] == "float"
    assert (column["rows"], column["nulls"]) == (7043, 11)
    as_text = f"read_csv('{csv}', types = {{'TotalCharges': 'VARCHAR'}})"
    values = [v for (v,) in duckdb.sql(f"SELECT TotalCharges FROM {as_text}").fetchall()]
    numbers = [float(v) for v in values if v.strip()]
    assert len(numbers) == 7043 - 11
    assert abs(column["mean"] - math.fsum(numbers) / len(numbers)) < 1e-6


def test_grouping_on_a_repeated_column_takes_the_first(realworld: Path, tmp_path: Path) -> None:
    csv = realworld / "csv" / "aging-curve.csv"
    params = {"group_by": ["Decade"], "metrics": ["sum:Male", "sum:Male_1"]}
    fusionflow.run("csv-aggregate", [csv], params, tmp_path / "out")
    ours = (tmp_path / "out" / "aggregate.csv").read_text().splitlines()
    expected = duckdb.sql(
        f"SELECT Decade, sum(Male), sum(Male_1) FROM read_csv('{csv}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert ours[0] == "Decade,sum_Male,sum_Male_1"
    got = [tuple(float(v) for v in line.split(",")) for line in ours[1:]]
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == tuple(float(v) for v in theirs)


def test_a_file_not_in_utf8_is_read_in_its_encoding_and_says_so(
    realworld: Path, tmp_path: Path
) -> None:
    # Saved by Excel on a Mac: byte 0xCA (a no-break space in Mac Roman) in the header.
    # It used to become U+FFFD in silence. Detection (chardetng, Firefox's detector, as
    # extract-text uses) cannot tell Mac Roman from its Windows cousins on so little, so
    # the guess is named; the encoding parameter reads it exactly.
    csv = realworld / "csv" / "food-world-cup-data.csv"
    summary = fusionflow.run("csv-aggregate", [csv], {}, tmp_path / "guessed")
    (entry,) = summary["transcoded"]
    assert entry["path"] == str(csv)
    assert entry["encoding"].endswith("(detected: not UTF-8)")
    assert sum(summary["encodings"].values()) == 1
    assert not [c for c in summary["columns"] if "\ufffd" in c]
    exact = fusionflow.run("csv-aggregate", [csv], {"encoding": "macintosh"}, tmp_path / "exact")
    assert exact["transcoded"] == [{"path": str(csv), "encoding": "macintosh (as given)"}]
    knowledge = "how would you rate your level of knowledge\u00a0of cuisines"
    assert [c for c in exact["columns"] if knowledge in c]
    assert exact["rows"] == summary["rows"] == 1373


def test_utf8_files_say_so(realworld: Path, tmp_path: Path) -> None:
    csv = realworld / "csv" / "aging-curve.csv"
    summary = fusionflow.run("csv-aggregate", [csv], {}, tmp_path / "out")
    assert (summary["encodings"], summary["transcoded"]) == ({"UTF-8": 1}, [])
