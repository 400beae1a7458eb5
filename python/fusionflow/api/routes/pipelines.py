"""The pipelines and the JSON Schemas of their parameters (the UI builds forms from them)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from fusionflow import pipelines
from fusionflow.api.schemas import PipelineInfo
from fusionflow.api.services import API_PREFIX, CurrentUser

router = APIRouter(prefix=f"{API_PREFIX}/pipelines", tags=["pipelines"])


@router.get("", response_model=list[PipelineInfo])
def list_pipelines(_: CurrentUser) -> list[PipelineInfo]:
    return [_info(name) for name in pipelines.names()]


@router.get("/{name}", response_model=PipelineInfo)
def get_pipeline(name: str, _: CurrentUser) -> PipelineInfo:
    if name not in pipelines.names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {name!r}")
    return _info(name)


def _info(name: str) -> PipelineInfo:
    pipeline = pipelines.get(name)
    return PipelineInfo(
        name=pipeline.name,
        description=pipeline.description,
        params_schema=pipeline.params_schema(),
    )
