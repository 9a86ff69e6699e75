"""Running agents' code (`run_python`, `run_shell`) in a sandbox: no network, a scratch copy
of the project as its folder, a short environment without keys, limits on wall time,
CPU, memory, processes and output, and nothing left running when a run ends.

One backend per module: `bubblewrap` (Linux), `containers` (Docker, Podman), `direct`
("none": unconfined, only when a team asks). `choice` picks one, `runner` runs a
session's code with it, `settings` is what a team file says.
"""

from engine.sandbox.settings import SandboxSettings

__all__ = ["SandboxSettings"]
