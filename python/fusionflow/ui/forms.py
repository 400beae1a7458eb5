"""Parameter forms from a pipeline's JSON Schema (``GET /pipelines``), free of Streamlit:
``fields(schema)`` says which widget each parameter gets, ``to_params`` turns the
widgets' values back into the request's ``params`` (only what differs from defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["bool", "int", "float", "choice", "text", "lines", "optional_int", "optional_text"]

# Shown first and open; the rest go into an "Advanced" section.
_SELECTION = {"include", "exclude", "hidden", "follow_symlinks"}
# A params model's mark for an optional parameter that belongs up front anyway.
PRIMARY = "x-primary"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    label: str
    help: str
    default: Any
    required: bool
    advanced: bool
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def fields(schema: dict[str, Any]) -> list[Field]:
    """The form's fields in the schema's order: required ones first, file selection and
    rarely used ones marked advanced."""
    required = set(schema.get("required", []))
    found = [_field(name, spec, name in required) for name, spec in schema["properties"].items()]
    return sorted(found, key=lambda f: not f.required)


def _field(name: str, spec: dict[str, Any], required: bool) -> Field:
    variants = spec.get("anyOf", [spec])
    nullable = any(v.get("type") == "null" for v in variants)
    main: dict[str, Any] = next((v for v in variants if v.get("type") != "null"), {})
    kind: Kind
    options: list[str] = []
    if "enum" in main:
        kind, options = "choice", [str(o) for o in main["enum"]]
    elif main.get("type") == "boolean":
        kind = "bool"
    elif main.get("type") == "integer":
        kind = "optional_int" if nullable else "int"
    elif main.get("type") == "number":
        kind = "float"
    elif main.get("type") == "array":
        kind = "lines"
    else:
        kind = "optional_text" if nullable else "text"
    default = spec.get("default", [] if kind == "lines" else None)
    return Field(
        name=name,
        kind=kind,
        label=spec.get("title", name.replace("_", " ").capitalize()),
        help=spec.get("description", ""),
        default=default,
        required=required,
        # Up front: what is required or marked primary (a thumbnail's size), switches,
        # choices and lists (grep's patterns, csv's group_by and metrics); other numbers,
        # optional text and file selection are advanced.
        advanced=not required
        and not spec.get(PRIMARY)
        and (name in _SELECTION or kind not in ("bool", "choice", "lines")),
        options=options,
        minimum=main.get("minimum"),
        maximum=main.get("maximum"),
    )


def to_params(form: list[Field], values: dict[str, Any]) -> dict[str, Any]:
    """The request's ``params``: each value in its JSON type, leaving out what equals the
    default (so the API's defaults apply) and blank optional values."""
    params: dict[str, Any] = {}
    for f in form:
        value = values.get(f.name, f.default)
        if f.kind == "lines":
            if isinstance(value, str):
                value = [line.strip() for line in value.splitlines() if line.strip()]
        elif f.kind in ("optional_text", "text"):
            value = value if value not in ("", None) else None
        elif f.kind == "optional_int" and value in ("", None):
            value = None
        if value != f.default or (f.required and value not in (None, [])):
            params[f.name] = value
    return params
