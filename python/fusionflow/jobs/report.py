"""The human-readable ``report.txt`` written beside ``summary.json``."""

from __future__ import annotations

from typing import Any

# Lists longer than this are cut in the report (summary.json keeps them all).
SHOWN = 50


def render(summary: dict[str, Any]) -> str:
    """Headline figures first, then every list of problems (errors, skipped files...)."""
    lines = [f"FusionFlow {summary.get('pipeline', '')} job {summary.get('job', '')}".rstrip()]
    lines.append("=" * len(lines[0]))
    for key, value in summary.items():
        if isinstance(value, bool | int | float | str) and key not in ("pipeline", "job"):
            lines.append(f"{key.replace('_', ' ')}: {_number(value)}")
    for key, value in summary.items():
        if isinstance(value, list) and value and key not in ("inputs", "profile"):
            lines += ["", f"{key.replace('_', ' ')} ({len(value)}):"]
            lines += [f"  {_item(item)}" for item in value[:SHOWN]]
            if len(value) > SHOWN:
                lines.append(f"  ... and {len(value) - SHOWN} more (see summary.json)")
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _item(item: Any) -> str:
    if isinstance(item, dict):
        path = item.get("path")
        rest = ", ".join(f"{k}: {v}" for k, v in item.items() if k != "path")
        return f"{path}: {rest}" if path is not None else rest
    return str(item)
