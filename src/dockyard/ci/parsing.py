"""Parsing a pipeline file without holding up the server.

Both front ends are bounded (1 MiB, nesting, no YAML aliases: `dockyard.ci.errors`), and the
parse runs in a worker thread: the event loop keeps answering other requests while a large or
hostile file is read. Callers on the event loop use `parse_pipeline_off_loop`.
"""

from __future__ import annotations

import asyncio

from dockyard.ci.branch_pods import merge_branch_pods
from dockyard.ci.errors import PipelineError, Pos
from dockyard.ci.jenkinsfile import parse_jenkinsfile
from dockyard.ci.model import Pipeline
from dockyard.ci.yamlpipeline import parse_yaml_pipeline

PARSE_TIMEOUT = 30.0


def parse_pipeline(source: str, filename: str) -> Pipeline:
    """A `.yml`/`.yaml` file as a YAML pipeline, anything else as a Jenkinsfile."""
    if filename.endswith((".yml", ".yaml")):
        return merge_branch_pods(parse_yaml_pipeline(source, filename))
    return merge_branch_pods(parse_jenkinsfile(source, filename))  # matrix cells' own pod templates


async def parse_pipeline_off_loop(source: str, filename: str, timeout: float = PARSE_TIMEOUT) -> Pipeline:
    """`parse_pipeline` in a worker thread; a parse that outlasts `timeout` is a PipelineError."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(parse_pipeline, source, filename), timeout)
    except TimeoutError:
        raise PipelineError(
            f"parsing took longer than {timeout:g} s: simplify the pipeline file", Pos(filename, 1, 1)
        ) from None
