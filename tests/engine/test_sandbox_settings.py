"""Sandbox settings in team files, the backends' command lines, the choice of a backend and
the refusal of a team where none works: none of these runs code."""

from __future__ import annotations

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.sandbox import bubblewrap, choice, containers
from engine.sandbox.job import Job
from engine.sandbox.settings import SandboxSettings
from engine.teams import TeamFileError, parse_team_file, to_toml
from engine.toolbox import Toolbox
from engine.sandbox.runner import CodeRunner
from tui.setup import Choices, SetupError, build

TEAM = """
name = "coders"
pattern = "pipeline"
[[agents]]
name = "coder"
role = "python developer"
tools = ["run_python"]
"""


def test_a_team_file_names_a_backend_alone_or_a_table_of_settings():
    assert parse_team_file(TEAM, "t.toml").sandbox == SandboxSettings()
    alone = parse_team_file('sandbox = "none"\n' + TEAM, "t.toml").sandbox
    assert (alone.backend, alone.wall_s) == ("none", 30.0)
    table = parse_team_file(TEAM + '[sandbox]\nbackend = "docker"\nimage = "python:3.13-slim"\nwall_s = 5\nprocesses = 8\n', "t.toml")
    assert (table.sandbox.backend, table.sandbox.image, table.sandbox.wall_s, table.sandbox.processes) == ("docker", "python:3.13-slim", 5.0, 8)
    assert parse_team_file(to_toml(table), "again.toml").sandbox == table.sandbox
    assert "[sandbox]" not in to_toml(parse_team_file(TEAM, "t.toml"))  # the defaults: no table


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ('sandbox = "chroot"', "sandbox.backend: Input should be 'auto', 'bubblewrap', 'docker', 'podman' or 'none'"),
        ('[sandbox]\nwall_s = 0', "sandbox.wall_s: Input should be greater than 0"),
        ('[sandbox]\nmemory_mb = 8', "sandbox.memory_mb: Input should be greater than or equal to 32"),
        ('[sandbox]\nimage = "--privileged"', "is not an image name"),
        ('[sandbox]\nnetwork = true', "sandbox.network: Extra inputs are not permitted"),
    ],
)
def test_bad_sandbox_settings_are_one_line_naming_the_key(setting, words):
    text = TEAM.replace('pattern = "pipeline"', 'pattern = "pipeline"\n' + setting) if not setting.startswith("[") else TEAM + setting
    with pytest.raises(TeamFileError) as error:
        parse_team_file(text, "t.toml")
    assert words in str(error.value) and "\n" not in str(error.value)


def test_code_tools_are_given_by_their_exact_names_never_by_a_glob(tmp_path):
    code = CodeRunner(SandboxSettings(), tmp_path, lambda: tmp_path, lambda: ())
    box = Toolbox.built_in(lambda: tmp_path, lambda: (), code)
    assert [tool.name for tool in box.chosen(["*"])] == ["list_files", "read_file"]
    assert [tool.name for tool in box.chosen(["run_*", "run_python"])] == ["run_python"]
    assert box.find("run_shell", ["*"]) is None and box.find("run_shell", ["run_shell"]) is not None
    assert box.unmatched(["run_*"]) == ["run_*"]
    assert TeamSpec(agents=(AgentSpec(name="a", role="r", tools=("*",)),)).runs_code() is False
    assert AgentSpec(name="a", role="r", tools=("run_shell",)).runs_code()
    assert "scratch copy of the project, without network" in AgentSpec(name="a", role="r", tools=("run_shell",)).system()


def test_bubblewraps_command_line_shuts_out_the_network_and_drops_root(tmp_path):
    settings = SandboxSettings(memory_mb=256, cpu_s=7, processes=9)
    argv = bubblewrap.arguments(("python3", "-"), settings, tmp_path, None)
    assert "--unshare-all" in argv and "--die-with-parent" in argv and "--clearenv" in argv
    assert argv[argv.index("--bind") + 1:argv.index("--bind") + 3] == [str(tmp_path), "/scratch"]
    assert argv[-8:] == ["prlimit", f"--as={256 << 20}", "--cpu=7:8", "--core=0", "--nproc=9", "--", "python3", "-"]
    as_root = bubblewrap.arguments(("true",), settings, tmp_path, (65534, 65534))
    assert "--unshare-all" not in as_root and "--unshare-net" in as_root and "--unshare-pid" in as_root
    assert as_root[as_root.index("setpriv"):as_root.index("prlimit")] == [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--"]
    assert not any(arg in ("/home", "/root", "/tmp/..") for arg in argv[:argv.index("--")])


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_a_containers_command_line_has_no_network_and_the_daemons_limits(tmp_path, engine):
    settings = SandboxSettings(backend=engine, image="python:3.12-slim", memory_mb=300, cpu_s=5, processes=20)
    job = Job(("python3", "-"), b"print(1)", tmp_path, settings, "huddle-abc-1-1")
    argv = containers.arguments(engine, job, None)
    assert argv[:7] == [engine, "run", "--rm", "--interactive", "--init", "--name", "huddle-abc-1-1"]
    pairs = {(argv[i], argv[i + 1]) for i in range(len(argv) - 1)}
    assert {("--network", "none"), ("--memory", "300m"), ("--memory-swap", "300m"), ("--pids-limit", "20"),
            ("--ulimit", "cpu=5:6"), ("--ulimit", f"data={300 * 1024 * 1024}:{300 * 1024 * 1024}"), ("--ulimit", "nofile=1024:1024"), ("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges"),
            ("--workdir", "/scratch"), ("--mount", f"type=bind,source={tmp_path},target=/scratch")} <= pairs
    assert "--read-only" in argv and argv[-4:] == ["--", "python:3.12-slim", "python3", "-"]
    as_root = containers.arguments(engine, job, (65534, 65534))  # huddle run by root: code runs as nobody
    assert as_root[as_root.index("--user") + 1] == "65534:65534" and "keep-id" not in as_root
    assert "nproc=20:20" in as_root
    assert ("nproc=20:20" in argv) == (engine == "podman")  # Docker as the user: the user's processes would count
    if engine == "podman":  # rootless: the user's own id inside is the user's outside
        assert ("--userns", "keep-id") in pairs and "--user" not in argv
    no_cgroups = containers.arguments(engine, job, None, cgroups=False)  # rootless Podman on cgroups v1
    assert not {"--memory", "--pids-limit"} & set(no_cgroups) and f"data={300 * 1024 * 1024}:{300 * 1024 * 1024}" in no_cgroups
    envs = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--env"]
    assert "HOME=/scratch" in envs and not any("KEY" in env or "TOKEN" in env for env in envs)


def test_auto_takes_the_first_backend_that_works_and_none_is_one_line_saying_what_to_install(monkeypatch):
    works = {"bubblewrap": "bwrap is not installed", "docker": None, "podman": None}
    monkeypatch.setattr(choice, "why_not", lambda name: works[name])
    assert choice.choose(SandboxSettings()).name == "docker"
    assert choice.choose(SandboxSettings(backend="podman")).name == "podman"
    assert (choice.choose(SandboxSettings(backend="none")).name, choice.choose(SandboxSettings(backend="none")).isolated) == ("none", False)
    works.update(docker="no docker daemon answers", podman="podman is not installed")
    with pytest.raises(choice.SandboxUnavailable) as error:
        choice.choose(SandboxSettings())
    assert "install bubblewrap (Debian, Ubuntu: apt install bubblewrap" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(choice.SandboxUnavailable, match=r"the team's sandbox is docker, which does not work here \(no docker daemon answers\)"):
        choice.choose(SandboxSettings(backend="docker"))


def test_a_team_giving_an_agent_code_is_refused_at_start_where_no_sandbox_works(tmp_path, monkeypatch):
    monkeypatch.setattr(choice, "why_not", lambda name: f"{name} is missing")
    path = tmp_path / "coders.toml"
    path.write_text(TEAM)
    with pytest.raises(SetupError) as error:
        build(Choices(task="Count the lines", team=str(path)))
    assert "agents that run code need a sandbox" in str(error.value) and "apt install bubblewrap" in str(error.value)
    path.write_text('sandbox = "none"\n' + TEAM)  # unconfined, as the team asks
    assert build(Choices(task="Count the lines", team=str(path))).spec.sandbox.backend == "none"
    path.write_text(TEAM.replace('tools = ["run_python"]', 'tools = ["read_file"]'))  # no code: no sandbox needed
    assert build(Choices(task="Count the lines", team=str(path))).spec.team.runs_code() is False


def test_each_session_run_by_the_front_end_has_its_own_scratch_folder_and_a_resume_keeps_it(tmp_path):
    from engine.events import SessionStarted
    from engine.providers.simulated import SimulatedProvider
    from engine.session import SessionSpec
    from sessions.scratch import scratch_folder
    from tui.recording import LiveSession

    spec = SessionSpec(task="Count the lines")
    provider = SimulatedProvider()
    first, second = LiveSession(spec, provider), LiveSession(spec, provider)
    assert first.config.scratch == scratch_folder(first.session_id) == tmp_path / "scratch" / first.session_id
    assert second.config.scratch != first.config.scratch  # a fork is a session of its own too
    started = SessionStarted(session_id=first.session_id, seq=1, ts=1.0, task="Count the lines", title="Count",
                             pattern="orchestrator", team=spec.team, provider="simulated", seed=0, limits=spec.limits,
                             policy=spec.policy)
    assert LiveSession(spec, provider, resume=[started]).config.scratch == first.config.scratch


def test_the_scratch_copy_leaves_out_huddles_own_databases_but_not_the_projects(tmp_path):
    import sqlite3

    from engine.sandbox import folder
    from sessions.migrations import APPLICATION_ID

    project = tmp_path / "project"
    project.mkdir()
    for name, application in (("sessions.db", APPLICATION_ID), ("app.db", 0)):
        with sqlite3.connect(project / name) as connection:
            connection.execute(f"PRAGMA application_id = {application}")
            connection.execute("CREATE TABLE t (x)")
        connection.close()
    (project / "main.py").write_text("print(1)\n")
    seeded = folder.seed(tmp_path / "scratch", project)
    assert seeded is not None and seeded.copied == 2
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["app.db", "main.py"]
