"""``agnbench serve`` refuses clearly (one line, exit 1): a taken port, a directory that is not a comparison, Gradio
missing; and the app it builds keeps to this machine (analytics off, system fonts only)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agnbench.cli.main import main
from agnbench.errors import AgnbenchError


def _agnbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agnbench", *args], capture_output=True, text=True, timeout=120)


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = _agnbench("serve", str(tmp_path), "--port", str(port))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"agnbench serve: error: port {port} on 127.0.0.1 is already in use; choose another "
                                  "with --port")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_not_a_comparison_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "runs").mkdir()
    port = str(_free_port())
    assert main(["serve", str(tmp_path / "runs"), "--port", port]) == 1
    err = capsys.readouterr().err
    assert "not a comparison directory (no inputs.yaml)" in err and "docs/contracts.md, Contract 4" in err
    assert main(["serve", str(tmp_path / "absent"), "--port", port]) == 1
    assert "no such directory" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--port", "70000"]) == 1
    assert "between 1 and 65535" in capsys.readouterr().err


def test_help_names_the_defaults() -> None:
    res = _agnbench("serve", "--help")
    assert res.returncode == 0 and "127.0.0.1" in res.stdout and "--port" in res.stdout and "--host" in res.stdout


def test_gradio_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from agnbench.serve import app

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    with pytest.raises(AgnbenchError, match=r"pip install 'agnbench\[app\]'"):
        app._gradio()


def test_gradio_is_configured_to_stay_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gradio")
    from agnbench.serve import app

    for var in app._OFFLINE_ENV:
        monkeypatch.delenv(var, raising=False)
    gr = app._gradio()
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and os.environ["GRADIO_SHARE"] == "False"
    from gradio.themes.utils.fonts import GoogleFont

    theme = app.theme(gr)
    assert not any(isinstance(f, GoogleFont) for f in [*theme._font, *theme._font_mono])
    assert "googleapis" not in theme._get_theme_css() and "@import" not in theme._get_theme_css()
