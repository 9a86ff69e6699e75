"""Agents' code under bubblewrap (or the backend HUDDLE_TEST_SANDBOX names): no network, the project untouched, no keys, every limit
holding, nothing left running. These tests run code for real (bubblewrap is needed)."""

from __future__ import annotations

import socket
import uuid

import pytest

from engine.tools import ToolError
from tests.engine.sandboxing import BACKEND, KEY, files_of, processes_with, runner

pytestmark = pytest.mark.usefixtures("code_sandbox")


async def test_print_six_times_seven_comes_back_as_42(tmp_path, project):
    code = runner(tmp_path, project)
    shown = await code.shown()
    assert (shown.backend, shown.isolated) == (BACKEND, True)
    assert shown.limits == {"wall_s": 10.0, "cpu_s": 30.0, "memory_mb": 512.0, "processes": 64.0, "output_kb": 64.0}
    result = await code.run("run_python", {"code": "print(6*7)"})
    first, _, rest = result.partition("\n")
    assert first.startswith("exit status 0 · no file changed")
    assert rest.startswith("[stdout]\n42\n[stderr: empty]")


async def test_a_shell_command_runs_in_the_scratch_copy_of_the_project(tmp_path, project):
    result = await runner(tmp_path, project).run("run_shell", {"command": "pwd; ls -A; echo $HOME"})
    assert result.split("\n")[2:7] == ["/scratch", "README.md", "settings.py", "src", "/scratch"]  # no .git, no .env


async def test_code_that_connects_to_a_server_on_loopback_fails_and_the_server_sees_nothing(tmp_path, project):
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        program = (
            "import socket\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('connected')\n"
            "except OSError as error:\n    print('no connection:', error)\n"
            "try:\n    socket.getaddrinfo('example.com', 80)\n    print('resolved')\n"
            "except OSError as error:\n    print('no name service:', error)\n"
        )
        result = await runner(tmp_path, project).run("run_python", {"code": program})
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody knocked
    assert "no connection:" in result and "no name service:" in result
    assert "connected\n" not in result and "resolved" not in result


async def test_code_that_writes_into_the_project_folder_leaves_it_unchanged(tmp_path, project):
    before = files_of(project)
    program = (
        "import os, pathlib\n"
        "pathlib.Path('notes.txt').write_text('mine')\n"
        "pathlib.Path('README.md').write_text('overwritten')\n"
        "os.remove('src/app.py')\n"
        f"for target in ({str(project / 'pwned.txt')!r}, {str(project / 'README.md')!r}, '../pwned.txt'):\n"
        "    try:\n        open(target, 'w').write('x')\n        print('wrote', target)\n"
        "    except OSError as error:\n        print('refused:', type(error).__name__)\n"
    )
    code = runner(tmp_path, project)
    result = await code.run("run_python", {"code": program})
    assert files_of(project) == before
    assert "wrote" not in result and result.count("refused:") == 3
    assert result.endswith("[files changed in the scratch folder]\nchanged README.md\nadded notes.txt\ndeleted src/app.py")
    assert (code.scratch / "notes.txt").read_text() == "mine"
    again = await code.run("run_shell", {"command": "cat notes.txt README.md"})  # the next run sees what it left
    assert "mineoverwritten" in again


async def test_a_key_in_huddles_environment_is_not_visible_to_the_code(tmp_path, project, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("HUDDLE_TEST_TOKEN", "tok-" + uuid.uuid4().hex)
    result = await runner(tmp_path, project).run(
        "run_python", {"code": "import os\nfor name in sorted(os.environ): print(name, '=', os.environ[name])\n"
                                "print(open('settings.py').read())"},
    )
    names = [line.split(" = ")[0] for line in result.split("[stdout]\n")[1].split("\n[stderr")[0].splitlines()[:-1]]
    assert set(names) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "TERM", "PYTHONUNBUFFERED",
                          "PYTHONDONTWRITEBYTECODE", "PWD", "", "HOSTNAME", "container"}  # the last two: Docker's, Podman's
    assert KEY not in result and "HUDDLE_TEST_TOKEN" not in result and "ANTHROPIC" not in result
    assert "API = '[redacted]'" in result  # a key the code reads from the copy is redacted on the way out


async def test_an_endless_loop_is_stopped_at_its_time_limit_with_its_children(tmp_path, project):
    marker = str(900000 + uuid.uuid4().int % 99999)
    program = f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'])\nwhile True:\n    pass\n"
    with pytest.raises(ToolError) as stopped:
        await runner(tmp_path, project, wall_s=1.5).run("run_python", {"code": program})
    assert str(stopped.value).startswith("stopped: it ran past its time limit (1.5 s); every process of it was killed")
    assert processes_with(f"sleep\0{marker}") == []


async def test_a_fork_bomb_is_stopped_and_leaves_nothing_running(tmp_path, project):
    marker = f"bomb{uuid.uuid4().hex[:10]}"
    with pytest.raises(ToolError) as stopped:
        await runner(tmp_path, project, wall_s=2, processes=16).run(
            "run_shell", {"command": f"b() {{ b | b & }}; b; sleep 30 # {marker}"},
        )
    assert "stopped: it ran past its time limit" in str(stopped.value)
    assert processes_with(marker) == []


async def test_processes_past_the_limit_cannot_be_started(tmp_path, project):
    program = (
        "import os, time\nmade = 0\n"
        "try:\n    for _ in range(200):\n        if os.fork() == 0:\n            time.sleep(5)\n            os._exit(0)\n        made += 1\n"
        "except OSError as error:\n    print('refused:', error.strerror)\n"
        "print('made', made)\n"
    )
    result = await runner(tmp_path, project, processes=12).run("run_python", {"code": program})
    made = int(result.split("made ")[1].split()[0])
    assert "refused: Resource temporarily unavailable" in result and made < 12


async def test_a_memory_hog_is_stopped_at_its_memory_limit(tmp_path, project):
    with pytest.raises(ToolError) as stopped:
        await runner(tmp_path, project, memory_mb=128).run("run_python", {"code": "hog = bytearray(1024 ** 3)\nprint('got it')"})
    assert "stopped: it went over its memory limit, 128 MB" in str(stopped.value)
    assert "got it" not in str(stopped.value)


async def test_cpu_time_is_limited(tmp_path, project):
    with pytest.raises(ToolError) as stopped:
        await runner(tmp_path, project, cpu_s=1, wall_s=20).run("run_python", {"code": "while True:\n    pass"})
    assert str(stopped.value).startswith("stopped: it used up its CPU time (1 s)")


async def test_output_past_the_limit_is_cut_and_the_result_says_so(tmp_path, project):
    result = await runner(tmp_path, project, output_kb=1).run("run_python", {"code": "print('x' * 5000)"})
    assert "[stdout cut at 1 KB: 3,977 more bytes left out]" in result
    assert result.count("x") < 1100


async def test_the_copy_leaves_out_secrets_and_tool_folders_and_files_past_its_bounds(tmp_path, project, monkeypatch):
    from engine.sandbox import folder

    (project / ".config").mkdir()
    (project / ".config" / "token.json").write_text("{}")
    for side in ("huddle.db-wal", "huddle.db-shm", "data.db-journal"):  # a database being written: never
        (project / side).write_bytes(b"\0")
    monkeypatch.setattr(folder, "MAX_FILES", 3)
    for number in range(5):
        (project / f"more{number}.txt").write_text("x")
    result = await runner(tmp_path, project).run("run_shell", {"command": "ls -A | wc -l"})
    assert "[note: the scratch folder started as a copy of the project (3 files); 5 more were left out" in result
    assert "[stdout]\n3\n" in result  # README.md, more0.txt, more1.txt: the first three of eight
