"""What every pipeline provides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fusionflow._core import Progress
from fusionflow.errors import InvalidParameter


class FileSelection(BaseModel):
    """Which files under the inputs a pipeline reads: parameters every pipeline shares."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(
        default_factory=list,
        description="Only files matching these globs (a glob without '/' matches the name).",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Leave out files and directories matching these globs."
    )
    hidden: bool = Field(False, description="Include hidden files and directories in trees.")
    follow_symlinks: bool = Field(
        False, description="Follow symbolic links inside trees (never outside the input root)."
    )

    def selection(self) -> dict[str, Any]:
        """The selection as keyword arguments of the core's run functions."""
        return {
            "include": self.include,
            "exclude": self.exclude,
            "hidden": self.hidden,
            "follow_symlinks": self.follow_symlinks,
        }


Execute = Callable[[list[str], Any, Path, Progress | None], dict[str, Any]]
# (a shard's exact files, params, its part dir, progress, the job's inputs) -> its summary
RunShard = Callable[[list[str], Any, Path, Progress | None, list[str]], dict[str, Any]]
Finalize = Callable[[list[Path], list[dict[str, Any]], Any, Path], dict[str, Any]]


@dataclass(frozen=True)
class Pipeline:
    """A named processing step: its parameters and how to run it."""

    name: str
    description: str
    params_model: type[BaseModel]
    # (inputs, validated params, output dir, progress) -> summary fields
    execute: Execute
    # A job's shard: exactly these files, in order. The job's inputs name the trees that
    # pipelines writing one output per input mirror.
    run_shard: RunShard
    # (part dirs and shard summaries in shard order, params, output dir) -> summary fields;
    # writes the same outputs as ``execute`` over all the shards' files would.
    finalize: Finalize

    def validate(self, params: Mapping[str, Any]) -> BaseModel:
        """Validate raw parameters; the first problem becomes an ``InvalidParameter``."""
        try:
            return self.params_model.model_validate(dict(params))
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "params"
            message = first["msg"].removeprefix("Value error, ")  # a model validator's
            raise InvalidParameter(f"invalid parameter `{field}`: {message}") from None

    def params_schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameters."""
        return self.params_model.model_json_schema()
