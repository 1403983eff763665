"""Profile file names mapped to a local checkout, like pprof's -trim_path / -source_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaksleuth.collect.source import MAX_SUFFIX_PARTS, SourceFiles, SourceRoot
from leaksleuth.errors import ConfigError


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "svc" / "pkg").mkdir(parents=True)
    (tmp_path / "svc" / "pkg" / "q.go").write_text("package pkg\n\nfunc Q() {}\n")
    return tmp_path


def test_a_prefix_maps_build_paths_and_module_paths(checkout: Path) -> None:
    files = SourceFiles.from_options([f"/build/src={checkout}", f"github.com/acme={checkout}"])
    assert files.line("/build/src/svc/pkg/q.go", 3) == "func Q() {}"
    assert files.read("github.com/acme/svc/pkg/q.go") == b"package pkg\n\nfunc Q() {}\n"
    assert files.line("/build/srcx/svc/pkg/q.go", 3) is None  # a prefix matches whole components only
    assert files.lines[("/build/src/svc/pkg/q.go", 1)] == "package pkg"


def test_a_bare_directory_is_searched_by_trailing_components(checkout: Path) -> None:
    files = SourceFiles.from_options([str(checkout)])
    assert files.line("/home/ci/work/svc/pkg/q.go", 1) == "package pkg"
    assert files.line("/home/ci/../../svc/pkg/q.go", 1) == "package pkg"  # `..` never climbs out of the root
    deep = "/" + "/".join(["x"] * (MAX_SUFFIX_PARTS + 5)) + "/q.go"
    assert len(list(SourceRoot(checkout).candidates(deep))) == MAX_SUFFIX_PARTS


def test_without_a_root_only_existing_paths_are_read(checkout: Path) -> None:
    files = SourceFiles()
    assert files.line(str(checkout / "svc" / "pkg" / "q.go"), 3) == "func Q() {}"
    assert files.read("/build/src/svc/pkg/q.go") is None


def test_a_root_that_is_not_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        SourceFiles.from_options([f"/build={tmp_path / 'missing'}"])
    with pytest.raises(ConfigError, match="names no directory"):
        SourceFiles.from_options(["/build="])
