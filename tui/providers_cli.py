"""`huddle providers`: every provider a team can name, where it is, and what it still needs."""

from __future__ import annotations

import argparse

from tui.exits import EXIT_FAILED, EXIT_OK
from tui.safe import clean, report

DEFAULT_ADDRESS = {"anthropic": "api.anthropic.com", "openai": "api.openai.com"}


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "providers", help="list the model providers and what each needs",
        description="List the providers a team can run on: built in, from your config.toml, and plug-ins.",
    )


def run(args: argparse.Namespace) -> int:
    from engine.config import ConfigError
    from engine.providers import BUILT_IN, SIMULATED, endpoints, kinds, missing
    from tui.userfiles import config_path, load_config

    config_file = str(config_path())
    try:
        found = endpoints(load_config())
    except ConfigError as error:
        report(f"huddle: {error}")
        return EXIT_FAILED
    rows = [(SIMULATED, "built in", "offline, free, deterministic", "ready")]
    for name, endpoint in found.items():
        kind = endpoint.kind or name
        where = endpoint.base_url or DEFAULT_ADDRESS.get(kind, "the plug-in's default")
        if endpoint.model:
            where += f" · model {endpoint.model}"
        problem = missing(name, endpoint, config_file)
        rows.append((name, kind, where, "ready" if problem is None else problem))
    print("Providers (huddle run --provider NAME, or provider = \"NAME\" in a team file, for the team or an agent):")
    widths = [max(len(clean(row[column])) for row in rows) for column in range(3)]
    for row in rows:
        cells = [clean(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        print(f"  {'  '.join(cells)}  {clean(row[3])}")
    plugins = [kind for kind in kinds() if kind not in BUILT_IN]
    print(f"\nPlug-ins (entry point group huddle.providers): {clean(', '.join(plugins)) if plugins else 'none installed'}")
    print(f"Add your own endpoints in {clean(config_file)} ([providers.NAME]; see the README).")
    return EXIT_OK
