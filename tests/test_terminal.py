"""`backplan intake` in a real terminal: tmux types the answers, capture-pane reads the screen."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engine

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

KNOWLEDGE = engine.load_knowledge(engine.default_knowledge_dir())
# What the person types for each basic question, in knowledge/questionnaire.toml's order (no pain, so
# the pain details are not asked); choices by a unique beginning ("int" for intermediate).
BASICS = {
    "age": "38",
    "experience": "int",
    "active": "y",
    "goal": "posture",
    "equipment": "pull_up_bar, dumbbells",
    "conditions": "",
    "pain.status": "none",
}
# The emergency group first ("n"), then the basics, then every other screening group ("n").
ANSWERS = ["n", *(BASICS[f] for f in KNOWLEDGE.questions if f in BASICS), *(["n"] * (len(KNOWLEDGE.groups) - 1))]


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session, "-S", "-"], capture_output=True, text=True, check=True
    ).stdout


def _wait_for(session: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; screen was:\n{_screen(session)}")


def test_intake_in_a_real_terminal(tmp_path: Path) -> None:
    session = f"backplan-test-{tmp_path.name}"
    saved = tmp_path / "answers.toml"
    command = f"{sys.executable} -m cli intake --save {saved}; echo EXIT=$?; sleep 30"
    cwd = Path(__file__).resolve().parent.parent
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", "-c", str(cwd), command], check=True
    )
    try:
        first_group = next(iter(KNOWLEDGE.groups.values()))
        _wait_for(session, first_group.ask[:40])
        for answer in ANSWERS:
            subprocess.run(["tmux", "send-keys", "-t", session, answer, "Enter"], check=True)
            time.sleep(0.15)
        screen = _wait_for(session, "EXIT=")
        assert "EXIT=0" in screen
        assert "Programme: Back strength programme" in screen or "SAFETY SCREEN: CLEAR" in screen
        text = saved.read_text()
        assert 'equipment = ["dumbbells", "pull_up_bar"]' in text
        assert 'goal = "posture"' in text and 'experience = "intermediate"' in text and "active = true" in text
        assert engine.load_intake(saved, KNOWLEDGE).pain.status == "none"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
