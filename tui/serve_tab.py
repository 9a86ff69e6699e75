"""The process a browser tab runs: `huddle serve` starts one per tab (through textual-serve)
as `python -m tui.serve_tab [SCREEN]`: huddle at the tab's screen, drawn by `TabDriver`
(Textual's web driver, which also ends the app when the server goes away).
"""

from __future__ import annotations

import os
import sys

from tui.cli import main
from tui.serve_cli import TAB_DRIVER

if __name__ == "__main__":
    os.environ["TEXTUAL_DRIVER"] = TAB_DRIVER
    sys.exit(main())
