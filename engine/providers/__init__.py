"""Model providers: the simulated default, and Anthropic (imported only when used)."""
