"""Rule books kept on disk (engine/stored.py): the same objects as loading the files, never stale, never code."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from conftest import answers

import engine
from engine import rulebook, stored
from engine.errors import RuleError
from engine.resources import default_knowledge_dir, default_rules_dir


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test, and no rule book remembered in this process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BACKPLAN_CACHE_DIR", str(folder))
    monkeypatch.setattr(rulebook, "_CACHE", {})
    return folder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    rules, knowledge = tmp_path / "rules", tmp_path / "knowledge"
    shutil.copytree(default_rules_dir(), rules)
    shutil.copytree(default_knowledge_dir(), knowledge)
    return rules, knowledge


def _fresh(rules: Path | None = None, knowledge: Path | None = None) -> engine.RuleBook:
    rulebook._CACHE.clear()  # a new process: only the disk remembers
    return engine.load_rulebook(rules, knowledge)


def _kept(cache: Path) -> list[Path]:
    return sorted((cache / "books").glob("*.pickle"))


def test_a_kept_book_is_the_book_the_files_give(cache: Path) -> None:
    from_files = _fresh()
    assert len(_kept(cache)) == 1
    assert os.stat(cache / "books").st_mode & 0o777 == 0o700
    from_disk = _fresh()
    assert from_disk is not from_files
    assert from_disk.knowledge == from_files.knowledge
    assert from_disk.rules == from_files.rules
    assert from_disk.progression == from_files.progression is not None
    intake = engine.parse_intake(answers(goal="strength"), from_files.knowledge)
    assert engine.recommend(intake, from_disk).to_json() == engine.recommend(intake, from_files).to_json()


def test_a_changed_byte_is_a_different_book(cache: Path, folders: tuple[Path, Path]) -> None:
    rules, knowledge = folders
    before = _fresh(rules, knowledge)
    path = next(p for p in sorted(rules.rglob("*.toml")) if 'message = "' in p.read_text())
    path.write_text(path.read_text().replace('message = "', 'message = "Changed: ', 1))
    after = _fresh(rules, knowledge)
    assert after.rules.digest != before.rules.digest
    assert any("Changed: " in str(r.rule.model_dump()) for r in after.rules.rules)
    assert len(_kept(cache)) == 2


def test_a_defective_set_is_never_kept_and_always_refused(cache: Path, folders: tuple[Path, Path]) -> None:
    rules, knowledge = folders
    progression = next((rules / "progression").glob("*.toml"))
    progression.write_text(progression.read_text().replace("source = ", "source_typo = ", 1))
    for _ in range(2):
        with pytest.raises(RuleError) as info:
            _fresh(rules, knowledge)
        assert "progression" in info.value.line()
    assert _kept(cache) == []


def test_a_pickle_naming_a_function_is_refused_not_run(cache: Path, tmp_path: Path) -> None:
    _fresh()
    (kept,) = _kept(cache)
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    kept.write_bytes(pickle.dumps(Planted()))
    assert stored.fetch(kept.stem) is None
    book = _fresh()  # the files are read instead
    assert not marker.exists()
    assert book.rules.rules


@pytest.mark.parametrize("damage", ["truncated", "others_may_write", "not_a_book"])
def test_a_cache_not_to_be_trusted_is_no_cache(cache: Path, damage: str) -> None:
    from_files = _fresh()
    (kept,) = _kept(cache)
    if damage == "truncated":
        kept.write_bytes(kept.read_bytes()[:1000])
    elif damage == "others_may_write":
        (cache / "books").chmod(0o777)
    else:
        kept.write_bytes(pickle.dumps({"rules": []}))  # data, but not a rule book: the files are read
    assert stored.fetch(kept.stem) == ({"rules": []} if damage == "not_a_book" else None)
    assert _fresh().rules == from_files.rules


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("BACKPLAN_CACHE_DIR", str(blocked))
    monkeypatch.setattr(rulebook, "_CACHE", {})
    assert _fresh().rules.rules


def test_the_engine_digest_changes_with_any_python_file_of_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key of every kept book and verdict: an edited, added or removed engine module (at any depth) is a
    new key; a file that is not Python is not part of it."""
    from engine import verdicts

    root = tmp_path / "engine"
    (root / "journal").mkdir(parents=True)
    (root / "planner.py").write_text("x = 1\n")
    (root / "journal" / "rules.py").write_text("y = 2\n")
    monkeypatch.setattr(verdicts, "_ENGINE", root)

    def digest() -> str:
        monkeypatch.setattr(verdicts, "_engine_digest", None)
        return verdicts.engine_digest()

    seen = [digest()]
    assert digest() == seen[0]  # the same files: the same key
    (root / "notes.txt").write_text("not code")
    assert digest() == seen[0]
    (root / "journal" / "rules.py").write_text("y = 22\n")  # another size
    seen.append(digest())
    os.utime(root / "planner.py", ns=(1, 1))  # another modification time
    seen.append(digest())
    (root / "journal" / "store.py").write_text("")
    seen.append(digest())
    (root / "planner.py").unlink()
    seen.append(digest())
    assert len(set(seen)) == len(seen)


def test_the_cache_keeps_only_the_newest_books(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each engine, rule or knowledge edit is a new key: the folder keeps the ``KEPT_BOOKS`` most recently
    written books, the one just written among them, and the next load of a pruned one reads its files."""
    monkeypatch.setattr(stored, "KEPT_BOOKS", 3)
    folder = cache / "books"
    folder.mkdir(parents=True, mode=0o700)
    for age in range(5):  # five older books, the oldest first
        old = folder / f"old{age}.pickle"
        old.write_bytes(b"")
        os.utime(old, ns=(age * 10**9, age * 10**9))
    (folder / "notes.txt").write_text("not a book")
    _fresh()
    new = [p.name for p in _kept(cache) if not p.name.startswith("old")]
    assert len(new) == 1
    assert {p.name for p in folder.iterdir()} == {"notes.txt", "old3.pickle", "old4.pickle", *new}
    _fresh()  # the same book again: read back, nothing written or pruned
    assert {p.name for p in folder.iterdir()} == {"notes.txt", "old3.pickle", "old4.pickle", *new}
