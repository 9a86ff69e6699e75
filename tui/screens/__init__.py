"""Screens of the terminal app, one per module, each with its .tcss beside it."""
