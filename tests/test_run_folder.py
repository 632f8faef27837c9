"""run_folder: one run per output folder (a lock), and an earlier run's files removed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from advcluster.io import LOCK_FILE, MANIFEST_FILE, FolderInUseError, atomic_write, run_folder


def _write(folder, name, text="x"):
    path = folder.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        fh.write(text)
    folder.wrote(path)
    return path


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_live_run_is_refused_and_the_lock_released_after(tmp_path):
    out = tmp_path / "out"
    with run_folder(out) as folder:
        lock = json.loads((out / LOCK_FILE).read_text())
        assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname() and lock["started"]
        with pytest.raises(FolderInUseError, match=rf"in use by another run \(pid {os.getpid()} on .*delete .*{LOCK_FILE}"):
            with run_folder(out):
                pass
        assert (out / LOCK_FILE).exists()  # the refused run did not remove the holder's lock
        _write(folder, "a.csv")
    assert not (out / LOCK_FILE).exists()
    assert json.loads((out / MANIFEST_FILE).read_text())["files"] == ["a.csv"]


@pytest.mark.parametrize("content", ["dead", "{not json", ""])
def test_a_stale_or_unreadable_lock_is_taken_over(tmp_path, content):
    out = tmp_path / "out"
    out.mkdir()
    if content == "dead":
        pid = _dead_pid()
        content = json.dumps({"pid": pid, "host": socket.gethostname(), "started": "then"})
    (out / LOCK_FILE).write_text(content)
    with run_folder(out) as folder:
        assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert folder.took_over and not (out / LOCK_FILE).exists()


def test_a_lock_from_another_host_is_respected(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": "now"}))
    with pytest.raises(FolderInUseError, match="pid 1 on elsewhere.example"):
        with run_folder(out):
            pass


def test_an_earlier_runs_files_are_removed_and_other_files_kept(tmp_path):
    out = tmp_path / "out"
    with run_folder(out) as first:
        for name in ("fig4.csv", "fig4_iris.png", "sub/table1.csv", "report.md"):
            _write(first, name)
    (out / "notes.txt").write_text("mine")
    with run_folder(out) as second:
        _write(second, "fig8.csv")
        _write(second, "report.md", "new")
        assert (out / "fig4.csv").exists()  # nothing is removed before the run has finished
    assert second.removed == ["fig4.csv", "fig4_iris.png", "sub/table1.csv"]
    assert second.foreign == ["notes.txt"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        [MANIFEST_FILE, "fig8.csv", "notes.txt", "report.md"]
    assert json.loads((out / MANIFEST_FILE).read_text())["files"] == ["fig8.csv", "report.md"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_or_interrupted_run_deletes_nothing(tmp_path, error):
    out = tmp_path / "out"
    with run_folder(out) as first:
        _write(first, "old.csv")
    manifest = (out / MANIFEST_FILE).read_text()
    with pytest.raises(error):
        with run_folder(out) as second:
            _write(second, "new.csv")
            raise error()
    assert (out / "old.csv").exists() and (out / "new.csv").exists()
    assert (out / MANIFEST_FILE).read_text() == manifest and not (out / LOCK_FILE).exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_files_outside_the_folder_are_refused(tmp_path):
    with run_folder(tmp_path / "out") as folder:
        with pytest.raises(ValueError, match="outside the run's folder"):
            folder.wrote(tmp_path / "elsewhere.csv")


def test_an_edited_manifest_removes_nothing_outside_the_folder(tmp_path):
    out = tmp_path / "out"
    outside = tmp_path / "keep.txt"
    outside.write_text("mine")
    (out / "sub").mkdir(parents=True)
    (out / MANIFEST_FILE).write_text(json.dumps(
        {"files": [str(outside), "../keep.txt", "sub/../../keep.txt", "sub", LOCK_FILE, "gone.csv"]}))
    with run_folder(out) as folder:
        _write(folder, "a.csv")
    assert outside.read_text() == "mine" and (out / "sub").is_dir()
    assert folder.removed == []


def test_a_manifest_that_is_not_a_list_of_files_is_ignored(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("mine")
    (out / MANIFEST_FILE).write_text(json.dumps({"files": "abc"}))
    with run_folder(out) as folder:
        pass
    assert (out / "a").exists() and folder.removed == [] and folder.foreign == ["a"]
