"""What every pipeline provides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fusionflow._core import Progress
from fusionflow.errors import InvalidParameter

Execute = Callable[[list[str], Any, Path, Progress | None], dict[str, Any]]


@dataclass(frozen=True)
class Pipeline:
    """A named processing step: its parameters and how to run it."""

    name: str
    description: str
    params_model: type[BaseModel]
    # (inputs, validated params, output dir, progress) -> summary fields
    execute: Execute

    def validate(self, params: Mapping[str, Any]) -> BaseModel:
        """Validate raw parameters; the first problem becomes an ``InvalidParameter``."""
        try:
            return self.params_model.model_validate(dict(params))
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "params"
            raise InvalidParameter(f"invalid parameter `{field}`: {first['msg']}") from None

    def params_schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameters."""
        return self.params_model.model_json_schema()
