"""`readJSON`/`writeJSON`, `readYaml`/`writeYaml` (pipeline-utility-steps): workspace files or
text as lists and maps. YAML goes through the pipeline parser's limits (no anchors or aliases,
bounded nesting and size), loaded by the safe loader."""

from __future__ import annotations

import io
import json
from typing import Any

from dockyard.ci.errors import PipelineError
from dockyard.ci.steps.files import MAX_FILE, read_bytes, workspace_path, write_bytes
from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate
from dockyard.ci.yamlpipeline import _check_events


class _DataStep(Step):
    def source(self, ctx: Ctx, host: StepHost) -> str:
        if self.args.get("file") and self.args.get("text") is not None:
            raise StepFailed(f"{self.name}: give file: or text:, not both")
        if self.args.get("text") is not None:
            text = interpolate(self.args["text"], ctx.env)
            if len(text) > MAX_FILE:
                raise StepFailed(f"{self.name}: text is over {MAX_FILE} characters")
            return text
        if not self.args.get("file"):
            raise StepFailed(f"{self.name} needs file: 'name' or text: '...'")
        rel = interpolate(self.args["file"], ctx.env)
        return read_bytes(workspace_path(ctx, host, rel, self.name, self.call.pos), self.name, rel).decode(
            "utf-8", "replace"
        )

    def target(self, ctx: Ctx, host: StepHost, text: str) -> str | None:
        if self.args.get("returnText"):
            return text
        if not self.args.get("file"):
            raise StepFailed(f"{self.name} needs file: 'name' (or returnText: true)")
        rel = interpolate(self.args["file"], ctx.env)
        path = workspace_path(ctx, host, rel, self.name, self.call.pos)
        if self.name.lower() == "writeyaml" and path.exists() and not self.args.get("overwrite"):
            raise StepFailed(f"writeYaml: {rel} exists (pass overwrite: true to replace it)")
        write_bytes(path, text.encode(), self.name, rel)
        return None


class ReadJSONStep(_DataStep):
    name = "readJSON"

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        text = self.source(ctx, host)
        host.log.line("[Pipeline] readJSON")
        try:
            return json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            raise StepFailed(f"readJSON: not valid JSON: {e}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class WriteJSONStep(_DataStep):
    name = "writeJSON"

    async def run(self, ctx: Ctx, host: StepHost) -> str | None:
        pretty = self.args.get("pretty") or 0
        try:
            text = json.dumps(self.args["json"], indent=int(pretty) if pretty else None, default=str)
        except (TypeError, ValueError, RecursionError) as e:
            raise StepFailed(f"writeJSON: cannot write this value as JSON: {e}") from None
        host.log.line("[Pipeline] writeJSON")
        return self.target(ctx, host, text)


class ReadYamlStep(_DataStep):
    name = "readYaml"

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        text = self.source(ctx, host)
        host.log.line("[Pipeline] readYaml")
        try:
            _check_events(text, "readYaml")
            docs = list(YAML(typ="safe", pure=True).load_all(text))
        except PipelineError as e:
            raise StepFailed(f"readYaml: {e}") from None
        except YAMLError as e:
            raise StepFailed(f"readYaml: not valid YAML: {e}") from None
        return _plain(docs[0] if len(docs) == 1 else docs) if docs else None


class WriteYamlStep(_DataStep):
    name = "writeYaml"

    async def run(self, ctx: Ctx, host: StepHost) -> str | None:
        from ruamel.yaml import YAML
        from ruamel.yaml.representer import RepresenterError

        out = io.StringIO()
        try:
            yaml = YAML(typ="safe", pure=True)
            yaml.default_flow_style = False
            yaml.dump(_plain(self.args["data"]), out)
        except (RepresenterError, RecursionError) as e:
            raise StepFailed(f"writeYaml: cannot write this value as YAML: {e}") from None
        host.log.line("[Pipeline] writeYaml")
        return self.target(ctx, host, out.getvalue())


def _plain(value: Any) -> Any:
    """Lists, maps, strings, numbers, booleans and null only (dates become their text)."""
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str | int | float | bool) else str(k)): _plain(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class ReadYAMLStep(ReadYamlStep):
    name = "readYAML"


class WriteYAMLStep(WriteYamlStep):
    name = "writeYAML"
