"""statelab.written: a file is statelab's to write over only while it can prove it wrote it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from statelab import scratch, written
from statelab.params import ConfigError


def test_a_file_is_proven_only_while_its_content_is_what_statelab_wrote(tmp_path):
    path = tmp_path / "pred.csv"
    written.write_file(path, b"t,prediction\n0,1.5\n")
    assert path.read_bytes() == b"t,prediction\n0,1.5\n" and written.proven(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pred.csv.statelab", "pred.csv"]

    path.write_bytes(b"t,prediction\n0,2.5\n")  # the user edited it: the same header, not statelab's now
    assert not written.proven(path)
    written.write_file(path, b"t,prediction\n0,1.5\n")
    written.mark_path(path).unlink()  # no mark: nothing proves it
    assert not written.proven(path)


def test_a_mark_proves_only_the_file_it_was_written_for(tmp_path):
    written.write_file(tmp_path / "a.csv", b"same bytes\n")
    (tmp_path / "b.csv").write_bytes(b"same bytes\n")  # a user's file with the same content ...
    os.replace(written.mark_path(tmp_path / "a.csv"), written.mark_path(tmp_path / "b.csv"))  # ... and a mark
    assert not written.proven(tmp_path / "b.csv")  # the mark names a.csv


def test_check_replace_allows_a_new_file_or_statelabs_own_and_refuses_a_users_unless_told(tmp_path):
    mine, theirs = tmp_path / "mine.csv", tmp_path / "theirs.csv"
    written.check_replace("out", tmp_path / "new.csv")  # nothing there
    written.write_file(mine, b"x\n1\n")
    written.check_replace("out", mine)
    theirs.write_bytes(b"t,prediction\n")  # looks like statelab's output; proves nothing
    with pytest.raises(ConfigError, match=r"^out must be a new file or one statelab wrote, .*--overwrite"):
        written.check_replace("out", theirs)
    written.check_replace("out", theirs, overwrite=True)


def test_a_link_is_judged_by_the_file_it_names(tmp_path):
    (tmp_path / "real").mkdir()
    real, link = tmp_path / "real" / "out.csv", tmp_path / "out.csv"
    link.symlink_to(real)
    written.check_replace("out", link)  # a dangling link: the file it would create is new
    written.write_file(link, b"x\n")
    assert link.is_symlink() and real.read_bytes() == b"x\n" and written.proven(link)
    assert written.mark_path(real).is_file() and not written.mark_path(link).exists()
    users = tmp_path / "users.html"
    users.write_text("my notes")
    (tmp_path / "report.html").symlink_to(users)
    with pytest.raises(ConfigError, match=r"report\.html"):
        written.check_replace("out", tmp_path / "report.html")
    (tmp_path / "loop").symlink_to("loop")  # a link that names itself: someone's, not a new file
    with pytest.raises(ConfigError, match="loop"):
        written.check_replace("out", tmp_path / "loop")


def test_same_file_sees_one_file_under_every_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert written.same_file("x.csv", "./x.csv")  # neither exists yet
    assert written.same_file("x.csv", tmp_path / "sub" / ".." / "x.csv")
    Path("x.csv").write_text("1")
    Path("link.csv").symlink_to("x.csv")
    os.link("x.csv", "hard.csv")
    assert written.same_file("link.csv", "x.csv") and written.same_file("hard.csv", "x.csv")
    assert not written.same_file("x.csv", "y.csv")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
@pytest.mark.parametrize("cleanup_fails", [False, True])
def test_a_write_that_fails_names_the_path_and_the_cause(tmp_path, monkeypatch, code, cleanup_fails):
    """All or none: the first file is not put in place when the second cannot be; and when even
    removing the temporaries fails (EROFS), the error is still statelab's one line."""
    (tmp_path / "a.csv").write_bytes(b"before")
    real_replace, real_unlink = os.replace, Path.unlink

    def fails(src, dst):
        if Path(dst).name == "b.csv":
            raise OSError(code, os.strerror(code), str(dst))
        return real_replace(src, dst)

    def refuses(self, missing_ok=False):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(os, "replace", fails)
    if cleanup_fails:
        monkeypatch.setattr(Path, "unlink", refuses)
    files = [("out", tmp_path / "b.csv", b"new"), ("state", tmp_path / "a.csv", b"after")]
    expected = rf"^out must be a writable file path, got .*b\.csv' \({os.strerror(code)}\)$"
    with pytest.raises(ConfigError, match=expected):
        written.write_together(files)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert (tmp_path / "a.csv").read_bytes() == b"before" and not (tmp_path / "b.csv").exists()
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(scratch.SUFFIX))
    assert visible == ["a.csv"]


def test_discard_never_raises(tmp_path, monkeypatch):
    def refuses(self, missing_ok=False):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "unlink", refuses)
    scratch.discard(tmp_path / "gone")  # returns: a cleanup must not hide the error that made it necessary


def test_remove_leaves_a_file_statelab_cannot_prove_it_wrote(tmp_path):
    written.write_file(tmp_path / "heatmap-a.png", b"png")
    (tmp_path / "heatmap-b.png").write_bytes(b"the user's")
    assert written.remove(tmp_path / "heatmap-a.png") and not written.remove(tmp_path / "heatmap-b.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heatmap-b.png"]
