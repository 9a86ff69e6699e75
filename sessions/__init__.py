"""huddle's session store: every session recorded in one SQLite file."""
