"""LaunchScreen: choose a pattern and a team, write the task, set budgets and approvals, start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Label, OptionList, RadioButton, RadioSet, Select, Static, TextArea
from textual.widgets.option_list import Option

from engine.config import ConfigError
from engine.formats import preview
from engine.mcp.spec import McpServer
from engine.patterns import PATTERNS
from engine.providers import SIMULATED, endpoints, missing
from engine.teams import TeamFile, TeamFileError, preset
from tui.safe import clean, clean_line, safe
from tui.screens.workers import CancelWorkersFirst
from tui.setup import Choices, SetupError, build
from tui.userfiles import config_path, load_config, load_team_file, user_team_paths
from tui.widgets.budget_fields import BudgetFields
from tui.widgets.choice_list import ChoiceList
from tui.widgets.inbox_count import inbox_badge
from tui.widgets.key_hints import KeyHints
from tui.widgets.scroll_box import ScrollBox

RECENT = 8
AS_THE_TEAM = "as-the-team"
KNOWN_LABELS = {
    "anthropic": "Anthropic: real Claude models (costs money)",
    "openai": "OpenAI: GPT models (costs money)",
}
KIND_WORDS = {"anthropic": "Anthropic API", "openai": "OpenAI-compatible"}
EXAMPLE_TASK = "Design a rate limiter for our public REST API"
"""The task the screen opens with, selected: typing replaces it, ctrl+s runs it."""


def agents_table(team_file: TeamFile) -> Content:
    """The team's agents: name, role, model (and provider, unless simulated); member teams
    with their own agents under them.
    `team_file` is one through the gate (`tui.safe.safe`): team files are shared."""
    parts: list[Content | tuple[str, str] | str] = []

    def add(agents, indent: str) -> None:
        for agent in agents:
            if agent.team is not None:
                parts.extend([indent, (agent.name, "bold $text-accent"), f" · team running {agent.pattern or 'orchestrator'}\n"])
                add(agent.team.agents, indent + "   ")
            else:
                lead = " (lead)" if agent.name == team_file.lead else ""
                provider = agent.provider or team_file.provider
                model = agent.model if provider == SIMULATED else f"{provider}/{agent.model}"
                parts.extend([indent, (agent.name, "bold"), (lead, "$text-accent"), f" · {agent.role}", (f" · {model}", "dim"), "\n"])

    add(team_file.agents, "")
    return Content.assemble(*parts)


def servers_table(servers: tuple[McpServer, ...], offered: dict[str, str]) -> Content:
    """The team's MCP servers: how each is reached, and the tools it offers (or why it
    did not start) once it was asked; servers are the user's, so all of it is cleaned."""
    if not servers:
        return Content("")
    parts: list[Content | tuple[str, str] | str] = ["\n", ("MCP servers", "bold"), "\n"]
    for server in servers:
        line = offered.get(server.name, "starting it, to list its tools…")
        style = "$text-error" if line.startswith("did not start") else "dim"
        parts += [(clean_line(server.name), "bold"), (f" · {clean_line(server.described())}", "dim"), "\n",
                  "   ", (clean_line(line), style), "\n"]
    return Content.assemble(*parts)


def _label(text: str) -> Text:
    """A Select option's label as plain text: Select reads a str prompt as markup, and
    team file names are the user's. (Not Content: Select's type-to-search in Textual
    8.2 only reads str and rich Text prompts.)"""
    return Text(clean_line(text))


class LaunchScreen(CancelWorkersFirst, Screen[None]):
    """Start a session: everything on one screen, keyboard first."""

    CSS_PATH = "launch.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    BINDINGS = [
        # Not a priority binding: those run as the key arrives, before the keys typed
        # just ahead of it reach the task box; this one waits its turn behind them.
        Binding("ctrl+s", "start", "Start", id="launch.start", tooltip="Start the session"),
        Binding("ctrl+o", "app.browse", "Sessions", id="launch.sessions", tooltip="Browse past sessions"),
        Binding("ctrl+r", "recent", "Recent tasks", id="launch.recent", tooltip="Pick a task you ran before"),
        Binding("escape", "back", "Back", id="launch.back", show=False),
    ]

    def __init__(self, *, pattern: str | None = None, team: str | None = None, task: str = "") -> None:
        super().__init__()
        self._pattern = pattern if pattern in PATTERNS else "orchestrator"
        self._team_choice = f"file:{team}" if team and Path(team).suffix == ".toml" else (f"preset:{team}" if team in PATTERNS else None)
        self._initial_task = task
        self._user_teams: list[Path] = []
        """The team files in the user's teams folder, found once when the screen opens."""
        self._teams: dict[str, TeamFile | TeamFileError] = {}
        """Each team choice read so far, or why it could not be read."""
        self._shown_team: str | None = None
        self._team_file: TeamFile | None = None
        self._starting = False
        """True while a press of Start is being set up (off the loop)."""
        self._recent: list[str] = []
        self._unready: dict[str, str] = {}
        """The providers that cannot be chosen yet, and what each needs."""
        self._config_error = ""
        self._shared_servers: list[McpServer] = []
        """config.toml's MCP servers, which every team's agents may use."""
        self._tools: dict[str, dict[str, str]] = {}
        """What each team choice's MCP servers offer, by server, once they were asked."""
        self._team_view = Content("")
        self._providers = self._read_providers()
        """Every provider that can be offered, with its label."""

    def compose(self) -> ComposeResult:
        yield Static(self._title(getattr(self.app, "waiting", 0)), id="title")
        with Horizontal(id="columns"):
            with Vertical(id="left"):
                patterns = ChoiceList(id="patterns")
                patterns.border_title = "Pattern"
                yield patterns
                with ScrollBox(id="about-box", classes="description"):
                    yield Static(id="about", markup=False)
            with Vertical(id="middle"):
                yield Label("Team")
                yield Select([(_label(f"{self._pattern} (preset)"), f"preset:{self._pattern}")], id="team", allow_blank=False)
                with ScrollBox(id="team-box", classes="description"):
                    yield Static(id="team-agents", markup=False)
            right = VerticalScroll(id="right")
            right.can_focus = False  # a column, not a field: Tab goes to the fields in it
            with right:
                yield Label("Task", id="task-label")
                yield TextArea(self._initial_task or EXAMPLE_TASK, id="task", soft_wrap=True, show_line_numbers=False)
                recent = OptionList(id="recent")
                recent.border_title = "Recent tasks (ctrl+r)"
                yield recent
                yield Label("Provider")
                with RadioSet(id="provider"):
                    yield RadioButton(Content("As the team file says"), id=AS_THE_TEAM)
                    for name, label in self._providers.items():  # Content: a label is not markup
                        yield RadioButton(Content(label), value=name == SIMULATED, id=f"provider-{name}")
                yield Static(id="provider-hint", markup=False)
                yield Label("Budgets (empty: no limit)")
                yield BudgetFields(empty="no limit", id="budgets")
                yield Label("Escalations")
                yield Select(
                    [("Ask me", "ask"), ("Approve everything", "approve"), ("Reject everything", "reject")],
                    id="approve", allow_blank=False, value="ask",
                )
                yield Static(id="error", markup=False)
                yield Button("Start session (ctrl+s)", id="start", variant="success")
        yield KeyHints(self.BINDINGS)

    def on_mount(self) -> None:
        self._user_teams = user_team_paths()
        patterns = self.query_one("#patterns", OptionList)
        for info in PATTERNS.values():
            patterns.add_option(Option(Content.assemble((info.title, "bold"), "\n", (info.summary, "dim")), id=info.name))
        patterns.highlighted = list(PATTERNS).index(self._pattern)
        self._offer_providers()
        self._load_recent()
        task = self.query_one("#task", TextArea)
        task.select_all()  # typing replaces the example; ctrl+s runs it as it is
        task.focus()
        self.call_after_refresh(self._keep_in_view)
        self.watch(self.app, "waiting", self._show_waiting, init=False)  # the inbox's count, in the title

    @staticmethod
    def _title(waiting: int) -> Content:
        """The screen's title, with how many escalations wait in the inbox, if any."""
        title = Content.assemble(("huddle", "bold $text-accent"), " · start a session")
        return title + Content(" ") + inbox_badge(waiting) if waiting else title

    def _show_waiting(self, waiting: int) -> None:
        self.query_one("#title", Static).update(self._title(waiting))

    def on_resize(self) -> None:
        self.call_after_refresh(self._keep_in_view)

    def _keep_in_view(self) -> None:
        """After a layout, the focused field in view: in one narrow column the task may
        be below the fold. (The pattern list keeps its choice in view itself.)"""
        if self.focused is not None:
            self.focused.scroll_visible(animate=False)

    # -- pattern and team -----------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#patterns")
    def _pattern_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        name = message.option.id or "orchestrator"
        self._pattern = name
        info = PATTERNS[name]
        self.query_one("#about", Static).update(
            Content.assemble((info.title, "bold"), "\n", info.summary, "\n\n", ("Use when: ", "bold"), info.use_when)
        )
        self.query_one("#about-box", ScrollBox).scroll_home(animate=False)
        self._offer_teams()

    def _offer_teams(self) -> None:
        options: list[tuple[Text, str]] = [(_label(f"{self._pattern} (preset)"), f"preset:{self._pattern}")]
        for path in self._user_teams:
            options.append((_label(f"{path.stem} (your team file)"), f"file:{path}"))
        select = self.query_one("#team", Select)
        wanted = self._team_choice if self._team_choice in {value for _, value in options} else options[0][1]
        with select.prevent(Select.Changed):
            select.set_options(options)
            select.value = wanted
        self._show_team(wanted)

    @on(Select.Changed, "#team")
    def _team_changed(self, message: Select.Changed) -> None:
        if isinstance(message.value, str):
            self._team_choice = message.value
            self._show_team(message.value)

    def _read_team(self, choice: str) -> TeamFile | TeamFileError:
        if choice not in self._teams:
            kind, _, name = choice.partition(":")
            try:
                self._teams[choice] = preset(name) if kind == "preset" else load_team_file(Path(name))
            except TeamFileError as error:
                self._teams[choice] = error
        return self._teams[choice]

    def _show_team(self, choice: str) -> None:
        """Show the chosen team and fill the form from it: only when the choice changed,
        so moving through patterns keeps what was typed for a team file."""
        if choice == self._shown_team:
            return
        self._shown_team = choice
        agents = self.query_one("#team-agents", Static)
        self.query_one("#team-box", ScrollBox).scroll_home(animate=False)
        team_file = self._read_team(choice)
        if isinstance(team_file, TeamFileError):
            self._team_file = None
            agents.update(Content.styled(clean(str(team_file)), "$text-error"))
            return
        self._team_file = team_file
        shown = safe(team_file)
        description = Content.styled(shown.description + "\n\n", "italic") if shown.description else Content("")
        self._team_view = Content.assemble(description, agents_table(shown))
        servers = team_file.servers(self._shared_servers)
        agents.update(Content.assemble(self._team_view, servers_table(servers, self._tools.get(choice, {}))))
        if servers and choice not in self._tools:
            self._list_tools(choice, servers)
        self.query_one(BudgetFields).show(team_file.budgets)
        self.query_one("#approve", Select).value = team_file.approval.default
        self._offer_the_teams_providers(team_file)

    @work(group="mcp-tools", exclusive=True)
    async def _list_tools(self, choice: str, servers: tuple[McpServer, ...]) -> None:
        """Start the team's MCP servers to read what they offer, then stop them."""
        from tui.mcp_listing import offered

        self._tools[choice] = await offered(servers)
        if self._shown_team == choice:
            self.query_one("#team-agents", Static).update(
                Content.assemble(self._team_view, servers_table(servers, self._tools[choice]))
            )

    # -- provider and recent tasks ---------------------------------------------------------

    def _read_providers(self) -> dict[str, str]:
        """Every provider the config names, with its label; the problems that keep some
        from being chosen, in `self._unready` (or the config's own, in `_config_error`)."""
        labels = {SIMULATED: "Simulated: offline, free, deterministic"}
        try:
            config = load_config()
            found = endpoints(config)
            self._shared_servers = config.mcp_servers
        except ConfigError as error:
            self._config_error = clean(str(error))
            return labels
        for name, endpoint in found.items():
            kind = endpoint.kind or name
            where = f" at {endpoint.base_url}" if endpoint.base_url else ""
            model = f" ({endpoint.model})" if endpoint.model else ""
            labels[name] = KNOWN_LABELS.get(name) or f"{name}: {KIND_WORDS.get(kind, kind)}{where}{model}"
            problem = missing(name, endpoint, str(config_path()))
            if problem is not None:
                self._unready[name] = problem
        return {name: clean_line(label) for name, label in labels.items()}

    def _offer_providers(self) -> None:
        hints: list[Content] = []
        if self._config_error:
            hints.append(Content.styled(self._config_error, "$text-error"))
        for name, problem in self._unready.items():
            self.query_one(f"#provider-{name}", RadioButton).disabled = True
            hints.append(Content.styled(clean_line(f"{name}: {problem}"), "dim"))
        self.query_one(f"#{AS_THE_TEAM}", RadioButton).display = False
        self.query_one("#provider-hint", Static).update(Content("\n").join(hints))

    def _offer_the_teams_providers(self, team_file: TeamFile) -> None:
        """A team whose agents name their own providers is offered as it is written;
        a team on one provider selects that provider, when it can be used."""
        own = team_file.team().callers()
        named = list(dict.fromkeys(agent.provider or team_file.provider for agent in own))
        as_the_team = self.query_one(f"#{AS_THE_TEAM}", RadioButton)
        mixed = len(named) > 1
        as_the_team.display = mixed
        as_the_team.label = Content(clean_line(f"As the team file says: {', '.join(named)}"))
        if mixed:
            as_the_team.value = True
            return
        if as_the_team.value:  # the team before was mixed; this one is not
            self.query_one(f"#provider-{SIMULATED}", RadioButton).value = True
        chosen = self.query(f"#provider-{named[0]}").first(RadioButton) if named[0] in self._providers else None
        if named[0] != SIMULATED and chosen is not None and not chosen.disabled:
            chosen.value = True

    @work(group="recent", exclusive=True)
    async def _load_recent(self) -> None:
        store = getattr(self.app, "store", None)
        recent = self.query_one("#recent", OptionList)
        if store is None:
            recent.display = False
            return
        tasks: list[str] = []
        for row in safe(await store.list_sessions(limit=50)):
            if row.task not in tasks:
                tasks.append(row.task)
            if len(tasks) == RECENT:
                break
        recent.clear_options()
        recent.add_options([Option(Content(preview(task, 120))) for task in tasks])
        self._recent = tasks
        recent.display = bool(tasks)

    @on(OptionList.OptionSelected, "#recent")
    def _recent_chosen(self, message: OptionList.OptionSelected) -> None:
        editor = self.query_one("#task", TextArea)
        editor.text = self._recent[message.option_index]
        editor.focus()

    def action_recent(self) -> None:
        recent = self.query_one("#recent", OptionList)
        if recent.display and recent.option_count:
            recent.focus()
            recent.highlighted = 0
        else:
            self.notify("No recent tasks yet.", timeout=2)

    # -- starting -------------------------------------------------------------------------

    def choices(self) -> Choices:
        """What the form says, checked; SetupError when something is missing or wrong."""
        task = self.query_one("#task", TextArea).text.strip()
        if not task:
            raise SetupError("Write a task for the team first.")
        limits = self.query_one(BudgetFields).limits()
        if self._team_file is None:
            raise SetupError("The chosen team file has a problem (see the team column); pick another team.")
        pressed = self.query_one("#provider", RadioSet).pressed_button
        provider = None if pressed is None or pressed.id == AS_THE_TEAM else str(pressed.id).removeprefix("provider-")
        return Choices(
            task=task,
            team=self._team_file,
            pattern=self._pattern,
            provider=provider,
            approve=str(self.query_one("#approve", Select).value),
            limits=limits,
        )

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self._starting:  # pressed again while the first press is being set up
            return
        try:
            choices = self.choices()
        except SetupError as problem:
            self._refused(problem)
            return
        self._starting = True
        self._set_up(choices)

    @work(group="start")
    async def _set_up(self, choices: Choices) -> None:
        """The session `choices` make, set up off the loop (the first team that runs code
        probes for a sandbox: it may start one or ask a daemon), the screen answering meanwhile."""
        try:
            setup = await asyncio.to_thread(build, choices)
        except SetupError as problem:
            self._refused(problem)
            return
        finally:
            self._starting = False
        self.query_one("#error", Static).update("")
        self.app.start_session(setup)  # type: ignore[attr-defined]

    def _refused(self, problem: SetupError) -> None:
        self.query_one("#error", Static).update(Content.styled(f"✗ {clean_line(str(problem))}", "bold $text-error"))
        if "task" in str(problem):
            self.query_one("#task", TextArea).focus()

    def action_back(self) -> None:
        self.app.back(exit=False)  # type: ignore[attr-defined]  # escape while writing a task must not quit
