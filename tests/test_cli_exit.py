"""The ``fringenet`` script ends without the interpreter's module teardown, with sys.exit's exit codes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from fringenet import cli

SCRIPT = [sys.executable, "-m", "fringenet"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCRIPT, *args], capture_output=True, text=True, timeout=120)


def test_exit_codes_and_output_of_the_script(tmp_path: Path) -> None:
    version = _run("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"fringenet {cli.__version__}")
    missing = _run("detect", str(tmp_path / "nothing.tif"), "--out", str(tmp_path / "run"))
    assert missing.returncode == 2
    assert "error:" in missing.stderr and "nothing.tif" in missing.stderr
    assert not (tmp_path / "run").exists()
    usage = _run("detect")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_exit_handlers_run_and_piped_output_is_flushed() -> None:
    code = textwrap.dedent(
        """
        import atexit, sys
        from fringenet.cli import exit_without_teardown
        atexit.register(lambda: print("handler ran", flush=False))
        sys.stdout.write("x" * 100_000)  # more than one pipe buffer, not flushed yet
        exit_without_teardown(3)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3
    assert out.stdout.startswith("x" * 100_000) and out.stdout.endswith("handler ran\n")


class _Exited(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), ("stopped", 1)])
def test_status_follows_sys_exit(monkeypatch, capsys, code: object, status: int) -> None:
    def fake_exit(value: int) -> None:
        raise _Exited(value)

    monkeypatch.setattr("os._exit", fake_exit)
    monkeypatch.setattr("atexit._run_exitfuncs", lambda: None)
    # other tests of the session may leave worker threads or processes behind
    monkeypatch.setattr("threading.enumerate", lambda: [threading.main_thread()])
    monkeypatch.setattr("multiprocessing.active_children", lambda: [])
    with pytest.raises(_Exited) as stopped:
        cli.exit_without_teardown(code)
    assert stopped.value.status == status
    assert ("stopped" in capsys.readouterr().err) == (code == "stopped")


def test_a_live_thread_gets_the_ordinary_exit(monkeypatch) -> None:
    monkeypatch.setattr("os._exit", lambda value: pytest.fail("os._exit with a live non-daemon thread"))
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.exit_without_teardown(4)
        assert stopped.value.code == 4
    finally:
        release.set()
        worker.join()
