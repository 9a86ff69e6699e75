"""`huddle teams`: the preset teams and the user's team files; show one; copy a preset to edit."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tui.exits import EXIT_FAILED, EXIT_OK
from tui.safe import clean, report, safe

if TYPE_CHECKING:
    from engine.teams import TeamFile


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], parser_class: type[argparse.ArgumentParser]) -> None:
    teams = commands.add_parser(
        "teams", help="list, show and copy team files",
        description="Teams: a preset for every pattern, and your team files (in the config folder's teams/).",
    )
    sub = teams.add_subparsers(dest="teams_command", metavar="COMMAND", parser_class=parser_class)
    sub.add_parser("list", help="list presets and your team files", description="List presets and your team files.")
    show = sub.add_parser("show", help="print a team as TOML", description="Print a team file (or a preset) as TOML.")
    show.add_argument("name", metavar="NAME", help="a preset, one of your team files, or a path to one")
    new = sub.add_parser(
        "new", help="write an editable copy of a team",
        description="Write an editable team file into the config folder's teams/, copied from a preset or another team.",
    )
    new.add_argument("name", metavar="NAME", help="the new team's name (lowercase letters, digits, - and _)")
    new.add_argument("--from", dest="source", metavar="PRESET", default="orchestrator", help="the team to copy (default orchestrator)")
    new.add_argument("--force", action="store_true", help="overwrite a team file of that name")


def run(args: argparse.Namespace) -> int:
    from engine.config import ConfigError
    from engine.teams import TeamFileError

    handlers = {"list": _list, "show": _show, "new": _new}
    try:
        return handlers[args.teams_command or "list"](args)
    except (TeamFileError, ConfigError) as error:
        report(f"huddle: {error}")
        return EXIT_FAILED


def _list(args: argparse.Namespace) -> int:
    from engine.formats import plural
    from engine.patterns import PATTERNS
    from engine.teams import TeamFileError, preset
    from tui.userfiles import load_team_file, teams_dir, user_team_paths

    print("Presets (huddle run --team NAME, or huddle teams new MINE --from NAME):")
    width = max(len(name) for name in PATTERNS)
    for name in PATTERNS:
        team = preset(name).team()
        agents = ", ".join(agent.name for agent in team.agents)
        print(f"  {name:<{width}}  {plural(len(team.callers()), 'agent')}: {agents}")
    paths = user_team_paths()
    print(f"\nYour team files ({clean(str(teams_dir()))}):")
    if not paths:
        print("  none yet; make one with: huddle teams new NAME --from PRESET")
    for path in paths:
        name = clean(path.stem)  # team files are shared: their names and fields go through the gate
        try:
            team_file = safe(load_team_file(path))
        except TeamFileError as error:
            print(f"  {name:<{width}}  ✗ {clean(str(error))}")
            continue
        team = team_file.team()
        print(f"  {name:<{width}}  {team_file.pattern}, {plural(len(team.callers()), 'agent')}, {team_file.provider}"
              + (f": {team_file.description}" if team_file.description else ""))
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    """A preset as its file ships (its comments say what each part does); a team file
    of the user's as huddle reads it, through the gate."""
    from engine.teams import preset_text, to_toml
    from tui.userfiles import is_preset, load_config, resolve_team

    team_file = resolve_team(args.name)
    sys.stdout.write(preset_text(args.name) if is_preset(args.name, team_file) else to_toml(safe(_hidden(team_file))))
    servers = team_file.servers(load_config().mcp_servers)
    if servers:
        import asyncio

        from tui.mcp_listing import offered

        print("\n# What its MCP servers offer (each started to ask, then stopped):")
        for server, line in asyncio.run(offered(servers)).items():
            print(clean(f"#   {server}: {line}"))
    return EXIT_OK


def _hidden(team_file: TeamFile) -> TeamFile:
    """The team file with the values its servers' env and headers hold written out
    hidden: a token in a header is not printed ("env:NAME" references are)."""
    return team_file.model_copy(update={"mcp_servers": [server.hidden() for server in team_file.mcp_servers]})


def _new(args: argparse.Namespace) -> int:
    from tui.userfiles import copy_team

    path = copy_team(args.name, args.source, overwrite=args.force)
    print(clean(str(path)))
    return EXIT_OK
