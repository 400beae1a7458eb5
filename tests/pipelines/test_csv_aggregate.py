"""The ``csv-aggregate`` pipeline through the library API, checked against DuckDB."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest

import fusionflow
from fusionflow.errors import InvalidParameter

DIRTY = (
    "region,product,quantity,price\n"
    "north,apple,3,1.5\n"
    'north,"fig, dried",1,2.5\n'
    'south,"pear,2,1.0\n'  # unclosed quote: this row only
    "south,pear,2,1.0\n"
    "south,pear,x,1.0\n"  # not a number
    "east,kiwi,1\n"  # too few fields
    "east,kiwi,4,0.5"  # no final newline, well-formed
)


def test_aggregates_exactly_the_well_formed_rows(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales.csv").write_text(DIRTY)
    params = {"group_by": ["region"], "metrics": ["count", "sum:quantity", "mean:price"]}
    summary = fusionflow.run("csv-aggregate", [tmp_path / "in"], params, tmp_path / "out")
    assert (tmp_path / "out" / "aggregate.csv").read_text() == (
        "region,count,sum_quantity,mean_price\neast,1,4,0.5\nnorth,2,4,2\nsouth,1,2,1\n"
    )
    assert (summary["rows"], summary["bad_rows"], summary["groups"]) == (4, 3, 3)
    assert [s.rsplit(":", 2)[1:] for s in summary["bad_row_samples"]] == [
        ["4", " unclosed quote"],
        ["6", ' not a number in column "quantity"'],
        ["7", " expected 4 fields, found 3"],
    ]
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"metrics": ["median:price"]}, "metrics"),
        ({"metrics": ["sum"]}, "metrics"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"on_bad_rows": "ignore"}, "on_bad_rows"),
        ({"encoding": "klingon"}, "encoding"),
    ],
)
def test_bad_params_name_the_field(params: dict, field: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    with pytest.raises(InvalidParameter, match=f"`{field}`"):
        fusionflow.run("csv-aggregate", [tmp_path / "a.csv"], params, tmp_path / "out")


def test_fail_policy_raises_naming_the_row(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y\n1,2\n3\n")
    with pytest.raises(InvalidParameter, match=r"a\.csv:3: expected 2 fields, found 1"):
        fusionflow.run(
            "csv-aggregate", [tmp_path / "a.csv"], {"on_bad_rows": "fail"}, tmp_path / "out"
        )


def _corpus(root: Path, files: int, rows: int, seed: int) -> None:
    """Clean, varied CSV files: quoted commas, quotes, empty values, UTF-8 BOMs."""
    rng = random.Random(seed)
    regions = ["north", "south", "east", "west", "Zürich"]
    products = ["apple", "pear", "fig, dried", 'say "hi"', "kiwi"]
    for f in range(files):
        path = root / f"y={2020 + f % 3}" / f"part-{f:04}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        # One line ending: DuckDB 2.0 reads only the files that end lines like the first one
        # (mixed CRLF/LF: 8 of 40 files read, no error). Ours are covered in the Rust tests.
        newline = "\n"
        with path.open("w", newline="", encoding="utf-8-sig" if f % 7 == 0 else "utf-8") as out:
            writer = csv.writer(out, lineterminator=newline)
            writer.writerow(["region", "product", "quantity", "price"])
            for _ in range(rows):
                quantity = "" if rng.random() < 0.02 else str(rng.randint(-5, 500))
                price = "" if rng.random() < 0.02 else f"{rng.uniform(0, 1000):.2f}"
                writer.writerow([rng.choice(regions), rng.choice(products), quantity, price])


def test_equals_duckdb_on_clean_data(tmp_path: Path) -> None:
    import duckdb  # test dependency: the reference

    _corpus(tmp_path / "in", files=40, rows=500, seed=3)
    params = {
        "group_by": ["region", "product"],
        "metrics": ["count", "sum:quantity", "mean:price", "min:price", "max:price"],
    }
    summary = fusionflow.run("csv-aggregate", [tmp_path / "in"], params, tmp_path / "out")
    assert summary["bad_rows"] == 0
    with (tmp_path / "out" / "aggregate.csv").open(newline="", encoding="utf-8") as f:
        ours = list(csv.DictReader(f))
    theirs = duckdb.sql(
        f"""SELECT region, product, count(*), sum(quantity), avg(price), min(price), max(price)
        FROM read_csv('{tmp_path / "in"}/**/*.csv', header = true,
            columns = {{'region': 'VARCHAR', 'product': 'VARCHAR',
                        'quantity': 'BIGINT', 'price': 'DOUBLE'}})
        GROUP BY ALL ORDER BY region, product"""
    ).fetchall()
    assert len(ours) == len(theirs) == 25
    by_key = {(r["region"], r["product"]): r for r in ours}
    for region, product, count, total, mean, low, high in theirs:
        mine = by_key[region, product]
        assert int(mine["count"]) == count
        assert int(mine["sum_quantity"]) == total
        assert math.isclose(float(mine["mean_price"]), mean, rel_tol=1e-9)
        assert (float(mine["min_price"]), float(mine["max_price"])) == (low, high)


def test_parquet_output_reads_back_in_duckdb(tmp_path: Path) -> None:
    import duckdb  # test dependency: the reference

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sales.csv").write_text(DIRTY)
    params = {"group_by": ["region"], "metrics": ["count", "mean:price"], "parquet": True}
    summary = fusionflow.run("csv-aggregate", [tmp_path / "in"], params, tmp_path / "out")
    assert summary["parquet_output"] == "aggregate.parquet"
    table = duckdb.sql(f"SELECT * FROM '{tmp_path / 'out' / 'aggregate.parquet'}'")
    assert table.columns == ["region", "count", "mean_price"]
    assert [str(t) for t in table.types] == ["VARCHAR", "BIGINT", "DOUBLE"]
    # "x" in quantity spoils no row here: no metric reads quantity.
    assert table.fetchall() == [("east", 1, 0.5), ("north", 2, 2.0), ("south", 2, 1.0)]
