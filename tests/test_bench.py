"""bench/run.py and bench/batch_jobs.py run, and report issue 10's four figures each beside its floor.

Tiny samples and no timing assertions: the figures themselves are measured and reported in
docs/performance.md; here only their shape (names, floors, targets, verdicts, the table) is checked.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT


def _load(name: str) -> ModuleType:
    path = ROOT / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return _load("run")


def test_headline_has_the_four_targets_each_beside_its_floor(run: ModuleType) -> None:
    info: dict[str, Any] = {}
    figures = run.headline(run.Sizes.preset("tiny"), lambda _: None, info)
    assert [f.floor_name for f in figures] == [
        run.TYPER,
        run.TYPER,
        "one trivial durable eval",
        "`batch --jobs 1`, same input",
    ]
    assert [f.target for f in figures] == ["≤ 3× floor", "≤ 2× floor", "≤ 15× floor", "speed-up ≥ 1.8×"]
    assert "plan" in figures[0].name and "--help" in figures[1].name and "--jobs 2" in figures[3].name
    for figure in figures:
        assert figure.value > 0 and figure.floor > 0, figure
        assert math.isfinite(figure.ratio)
        assert isinstance(figure.met, bool)
    assert figures[3].speedup and figures[3].ratio == figures[3].floor / figures[3].value
    assert figures[2].ratio == figures[2].value / figures[2].floor
    assert info["cold_plan_empty_cache_ms"] > 0
    text = run.table(figures)
    header = text.splitlines()[0]
    for column in ("figure", "measured", "floor", "floor is", "ratio", "target", "met"):
        assert column in header
    for figure in figures:
        assert figure.name in text


def test_the_plan_parts_are_reported(run: ModuleType) -> None:
    import engine

    info: dict[str, Any] = {}
    people = run.valid_cohort(10, engine.load_rulebook().knowledge)
    run.plan_parts(people, 1, info)
    for key in ("parse_intake_median_ms", "recommend_median_ms", "to_json_median_ms", "batch_process_line_median_ms"):
        assert info[key] > 0


def test_batch_jobs_input_is_the_cohort_as_json_lines(tmp_path: Path) -> None:
    import json

    import engine

    batch_jobs = _load("batch_jobs")
    path = batch_jobs.write_input(tmp_path / "in.jsonl", 5, engine.load_rulebook().knowledge)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 5
    knowledge = engine.load_rulebook().knowledge
    for line in lines:
        engine.parse_intake(json.loads(line), knowledge)
    assert "PYTHONDONTWRITEBYTECODE" not in batch_jobs.child_env(tmp_path)
    assert batch_jobs.child_env(tmp_path)["BACKPLAN_CACHE_DIR"] == str(tmp_path)


def test_the_scripts_start() -> None:
    for script in ("run.py", "batch_jobs.py"):
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), "--help"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "--json" in done.stdout


def test_the_workload_ceiling_splits_the_input_in_two(tmp_path: Path) -> None:
    import engine

    batch_jobs = _load("batch_jobs")
    path = batch_jobs.write_input(tmp_path / "in.jsonl", 7, engine.load_rulebook().knowledge)
    first, second = batch_jobs.split_input(path, 3)
    assert first.read_bytes().count(b"\n") == 3 and second.read_bytes().count(b"\n") == 4
    assert first.read_bytes() + second.read_bytes() == path.read_bytes()


def test_the_jobs_figures_report_both_ceilings(monkeypatch: pytest.MonkeyPatch) -> None:
    batch_jobs = _load("batch_jobs")
    monkeypatch.setattr(batch_jobs, "SPIN", "sum(range(1000))")  # the loop's length does not matter here
    got = batch_jobs.measure(20, 1, ceiling=True, parent=False)
    for key in ("speedup", "ceiling", "workload_ceiling", "pool_efficiency"):
        assert got[key] > 0 and math.isfinite(got[key]), key
    assert len(got["workload_ceiling_per_round"]) == 1
    text = batch_jobs.report(got)
    assert "machine ceiling" in text and "workload ceiling" in text and "efficiency" in text
