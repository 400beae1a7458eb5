"""Forms from the pipelines' real JSON Schemas."""

from __future__ import annotations

from fusionflow import pipelines
from fusionflow.ui.forms import fields, to_params


def test_grep_form_widgets_from_its_schema() -> None:
    form = {f.name: f for f in fields(pipelines.get("grep").params_schema())}
    first = fields(pipelines.get("grep").params_schema())[0]
    assert (first.name, first.kind, first.required) == ("patterns", "lines", True)
    assert (form["ignore_case"].kind, form["ignore_case"].advanced) == ("bool", False)
    assert form["binary"].kind == "choice"
    assert form["binary"].options == ["auto", "skip", "text"]
    assert (form["context"].kind, form["context"].minimum, form["context"].maximum) == (
        "int",
        0,
        10_000,
    )
    assert form["before_context"].kind == "optional_int"
    assert form["include"].advanced
    assert form["context"].advanced
    csv = {f.name: f for f in fields(pipelines.get("csv-aggregate").params_schema())}
    assert not csv["group_by"].advanced
    assert not csv["metrics"].advanced
    assert csv["delimiter"].advanced
    assert form["format"].default == "text"


def test_values_become_minimal_params_the_api_accepts() -> None:
    grep = pipelines.get("grep")
    form = fields(grep.params_schema())
    values = {
        "patterns": "ERROR\n\nFATAL \n",
        "ignore_case": True,
        "context": 0,
        "before_context": None,
        "include": "*.log",
        "format": "text",
    }
    params = to_params(form, values)
    assert params == {"patterns": ["ERROR", "FATAL"], "ignore_case": True, "include": ["*.log"]}
    grep.validate(params)  # the model accepts what the form makes
    csv = pipelines.get("csv-aggregate")
    csv_form = fields(csv.params_schema())
    params = to_params(csv_form, {"group_by": "region", "metrics": "sum:amount", "delimiter": ""})
    assert params == {"group_by": ["region"], "metrics": ["sum:amount"]}
    csv.validate(params)


def test_a_thumbnails_size_is_asked_up_front() -> None:
    resize = pipelines.get("resize-images")
    form = {f.name: f for f in fields(resize.params_schema())}
    assert form["max_width"].kind == form["max_height"].kind == "optional_int"
    assert not form["max_width"].advanced
    assert not form["max_height"].advanced
    assert form["quality"].advanced
    assert form["mode"].options == ["fit", "fill", "exact"]
    params = to_params(list(form.values()), {"max_width": 200, "max_height": None, "mode": "fit"})
    assert params == {"max_width": 200}
    resize.validate(params)
