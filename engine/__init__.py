"""huddle's engine: runs a team of agents under a pattern and emits events. No UI here."""
