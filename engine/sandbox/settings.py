"""A team's sandbox settings: which backend runs its agents' code, and the limits on each run.

In a team file, either the backend alone or a table:

    sandbox = "none"                # run code directly, unconfined (every dialog says so)

    [sandbox]
    backend = "auto"                # auto | bubblewrap | docker | podman | none
    image = "python:3.12-slim"      # the image Docker or Podman runs code in
    wall_s = 30                     # seconds a run may take, start to end
    cpu_s = 30                      # seconds of CPU it may use
    memory_mb = 512                 # memory it may hold
    processes = 64                  # processes and threads it may run at once
    output_kb = 64                  # of what it prints, per stream: the rest is cut, and the result says so
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BackendName = Literal["auto", "bubblewrap", "docker", "podman", "none"]

DEFAULT_IMAGE = "python:3.12-slim"
"""A small image with Python and a shell: what Docker or Podman runs code in unless the team says."""

LIMIT_NAMES = ("wall_s", "cpu_s", "memory_mb", "processes", "output_kb")


class SandboxSettings(BaseModel):
    """Where and how the code agents run (`run_python`, `run_shell`) is confined."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    backend: BackendName = "auto"
    """"auto": the first that works here of bubblewrap, Docker, Podman; "none" runs code
    directly, with nothing between it and the machine."""
    image: str = DEFAULT_IMAGE
    """The image Docker or Podman runs code in (pulled when first needed)."""
    wall_s: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a run may take, start to end; then every process of it is killed."""
    cpu_s: float = Field(default=30.0, gt=0, le=3600)
    """Seconds of CPU time a process of it may use."""
    memory_mb: int = Field(default=512, ge=32, le=65536)
    """Memory (address space) a process of it may hold, in MB."""
    processes: int = Field(default=64, ge=4, le=4096)
    """Processes (and threads) it may run at once: a fork bomb stops there."""
    output_kb: int = Field(default=64, ge=1, le=10240)
    """KB of its standard output, and as much of its standard error, that come back."""

    @model_validator(mode="before")
    @classmethod
    def _backend_alone(cls, data: Any) -> Any:
        """`sandbox = "none"`: the backend, every limit as it is."""
        return {"backend": data} if isinstance(data, str) else data

    @field_validator("image")
    @classmethod
    def _image_ok(cls, value: str) -> str:
        value = value.strip()
        if not value or value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError(f"{value!r} is not an image name (\"python:3.12-slim\")")
        return value

    @property
    def cpu_rlimit(self) -> int:
        """The CPU time as an rlimit takes it: whole seconds, at least one."""
        return max(1, round(self.cpu_s))

    @property
    def limits(self) -> dict[str, float]:
        """Each limit by name ("wall_s": 30.0, ...), as the approval dialog shows them."""
        return {name: float(getattr(self, name)) for name in LIMIT_NAMES}
