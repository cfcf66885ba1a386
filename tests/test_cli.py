"""The `ava-edu` command line: sub-commands run, and bad input gets one line on stderr, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ava_edu.cli import main


def test_env_prints_the_report(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "torch" in out


def test_data_writes_the_datasets(tmp_path, capsys):
    assert main(["data", "--out", str(tmp_path)]) == 0
    written = {path.name for path in tmp_path.iterdir()}
    assert {"pretrain.jsonl", "chat_train.json", "chat_heldout.json", "georgian.txt"} <= written


def test_demo_trains_and_saves_a_tokenizer(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--vocab-size", "300"]) == 0
    out = capsys.readouterr().out
    assert "bytes per token" in out and "4 | 7 |" in out  # digits are split one per token
    assert (tmp_path / "tokenizer" / "tokenizer.json").exists()


def test_a_bad_vocab_size_is_one_line_on_stderr(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--vocab-size", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ava-edu demo: error:") and "\n" not in err and "vocab" in err


def test_an_unknown_flag_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "ava_edu", "env"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "python" in done.stdout
