"""What every pipeline provides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import core_schema

from fusionflow._core import Progress
from fusionflow.config import Settings, get_settings
from fusionflow.errors import InvalidParameter

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaValue


@dataclass(frozen=True)
class Ceiling:
    """Marks a size parameter whose largest value the server's settings decide: the
    ``Settings`` field ``setting``. A larger value is refused at validation, and a
    default above it is lowered to it. Settings come from the validation context
    (``{"settings": ...}``), else from the process's."""

    setting: str

    def limit(self, context: Any = None) -> int:
        settings = (context or {}).get("settings") or get_settings()
        value: int = getattr(settings, self.setting)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maximum"] = self.limit()
        return json_schema

    def _check(self, value: int, info: ValidationInfo) -> int:
        limit = self.limit(info.context)
        if value > limit:
            env = Settings.model_fields[self.setting].validation_alias
            raise ValueError(f"at most {limit} (this server's {env})")
        return value


def ceiling_of(field: Any) -> Ceiling | None:
    return next((m for m in field.metadata if isinstance(m, Ceiling)), None)


# Bounds on the lists of names a job stores (globs, columns), which go into its row
# and every view of it.
Name = Annotated[str, Field(max_length=4096)]
NAMES_MAX = 1000


class FileSelection(BaseModel):
    """Which files under the inputs a pipeline reads: parameters every pipeline shares."""

    model_config = ConfigDict(extra="forbid")

    include: list[Name] = Field(
        default_factory=list,
        max_length=NAMES_MAX,
        description="Only files matching these globs (a glob without '/' matches the name).",
    )
    exclude: list[Name] = Field(
        default_factory=list,
        max_length=NAMES_MAX,
        description="Leave out files and directories matching these globs.",
    )
    hidden: bool = Field(False, description="Include hidden files and directories in trees.")
    follow_symlinks: bool = Field(
        False, description="Follow symbolic links inside trees (never outside the input root)."
    )

    @model_validator(mode="after")
    def _defaults_within_ceilings(self, info: ValidationInfo) -> Self:
        for name, field in type(self).model_fields.items():
            ceiling = ceiling_of(field)
            if ceiling is not None and name not in self.model_fields_set:
                setattr(self, name, min(getattr(self, name), ceiling.limit(info.context)))
        return self

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

    def validate(self, params: Mapping[str, Any], settings: Settings | None = None) -> BaseModel:
        """Validate raw parameters within the ceilings of ``settings`` (default: the
        process's); the first problem becomes an ``InvalidParameter``."""
        try:
            return self.params_model.model_validate(dict(params), context={"settings": settings})
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "params"
            message = first["msg"].removeprefix("Value error, ")  # a model validator's
            raise InvalidParameter(f"invalid parameter `{field}`: {message}") from None

    def params_schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameters."""
        return self.params_model.model_json_schema()
