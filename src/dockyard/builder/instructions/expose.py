"""EXPOSE: ports (default tcp; ranges expanded) in the config's ExposedPorts."""

from __future__ import annotations

from dockyard.builder.dockerfile import DockerfileError, ExposeInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


def port_keys(word: str) -> list[str]:
    port, _, proto = word.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid protocol {proto!r} in EXPOSE {word}")
    low, _, high = port.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise ValueError(f"invalid port {word!r} in EXPOSE")
    last = int(high) if high else int(low)
    return [f"{p}/{proto}" for p in range(int(low), last + 1)]


class ExposeStep(Step):
    keyword = "EXPOSE"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, ExposeInstruction)
        ports = dict(stage.config.config.exposed_ports or {})
        for word in self.instruction.ports:
            try:
                for key in port_keys(word):
                    ports[key] = {}
            except ValueError as exc:
                raise DockerfileError(str(exc), line=self.instruction.line) from None
        stage.config.config.exposed_ports = ports
        return None
