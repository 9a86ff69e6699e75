"""The `huddle` command's exit statuses, for every command."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""The session did not complete, or a problem was reported on standard error."""
EXIT_USAGE = 2
"""The command line cannot run."""
EXIT_CANCELLED = 130
"""The session was cancelled (Ctrl+C), as shells report SIGINT."""
