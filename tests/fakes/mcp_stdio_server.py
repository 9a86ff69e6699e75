"""A stdio MCP server for the tests: run it with `sys.executable` and this file's path.

Its tools are `tests.fakes.mcp_tools`, with `exit` to end it mid-session. With
`--pid-file PATH` it writes its process id there first, so a test can check the
process is gone after the session.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.mcp_tools import build  # noqa: E402


def main() -> None:
    if "--pid-file" in sys.argv:
        Path(sys.argv[sys.argv.index("--pid-file") + 1]).write_text(str(os.getpid()))
    build("fake-stdio", can_exit=True).run("stdio")


if __name__ == "__main__":
    main()
