"""files: whole files and folders replaced atomically; folder differences in both directions; leftovers recovered."""
from __future__ import annotations

import os
import stat

import pytest
from conftest import leftovers, tree_bytes

from phoenix_gitops.files import changed_files, create_folder, recover_folders, replace_file, swap_folders

FILES = {"api/manifest.yaml": b"kind: ConfigMap\n", "web/manifest.yaml": b"kind: Secret\n"}


def test_changed_files_lists_new_different_and_extra_files(tmp_path):
    target = tmp_path / "prod"
    assert changed_files(target, FILES) == ["api/manifest.yaml", "web/manifest.yaml"]  # no folder yet
    swap_folders({target: FILES})
    assert changed_files(target, FILES) == []
    (target / "web/manifest.yaml").write_bytes(b"edited\n")
    (target / "old/manifest.yaml").parent.mkdir()
    (target / "old/manifest.yaml").write_bytes(b"x")
    assert changed_files(target, FILES) == ["old/manifest.yaml", "web/manifest.yaml"]


def test_a_symlink_in_place_of_a_file_is_a_change(tmp_path):
    target = tmp_path / "prod"
    swap_folders({target: FILES})
    (target / "api/manifest.yaml").unlink()
    (target / "api/manifest.yaml").symlink_to(target / "web/manifest.yaml")
    assert changed_files(target, FILES) == ["api/manifest.yaml"]


def test_swap_folder_leaves_exactly_the_files_readable_and_no_temp_folder(tmp_path):
    target = tmp_path / "rendered" / "prod"
    swap_folders({target: {"stale.yaml": b"x"}})
    swap_folders({target: FILES})
    assert tree_bytes(target) == FILES
    assert stat.S_IMODE((target / "api").stat().st_mode) == 0o755
    assert leftovers(tmp_path / "rendered") == []


def test_swap_folder_replaces_a_symlinked_folder_without_touching_its_target(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.yaml").write_bytes(b"keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "prod").symlink_to(elsewhere)
    swap_folders({tmp_path / "out" / "prod": FILES})
    assert tree_bytes(tmp_path / "out" / "prod") == FILES and not (tmp_path / "out" / "prod").is_symlink()
    assert tree_bytes(elsewhere) == {"keep.yaml": b"keep"}


def test_create_folder_refuses_a_folder_that_appeared_and_leaves_nothing_behind(tmp_path):
    create_folder(tmp_path / "shop", FILES)
    assert tree_bytes(tmp_path / "shop") == FILES
    with pytest.raises(OSError):
        create_folder(tmp_path / "shop", {"other.yaml": b"y"})
    assert tree_bytes(tmp_path / "shop") == FILES
    assert sorted(os.listdir(tmp_path)) == ["shop"]


def test_recover_folders_restores_a_swapped_out_folder_and_drops_temp_ones(tmp_path):
    out = tmp_path / "rendered"
    swap_folders({out / "prod": FILES})
    swap_folders({out / "dev": FILES})
    os.rename(out / "prod", out / ".old.prod.abc123")  # killed between the two renames
    (out / ".old.dev.def456").mkdir()  # killed before the old copy was removed
    (out / ".tmp.dev.xyz789" / "api").mkdir(parents=True)  # killed while writing
    recover_folders(out)
    assert sorted(os.listdir(out)) == ["dev", "prod"]
    assert tree_bytes(out / "prod") == FILES and tree_bytes(out / "dev") == FILES
    recover_folders(tmp_path / "missing")  # nothing to do


def test_replace_file_keeps_the_old_content_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "index.json"
    replace_file(path, b"old", mode=0o644)
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        replace_file(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["index.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
