"""A base install (no extras) runs the file commands; a command that needs an extra says which, in one line.

The extras' modules are made unimportable for real: the CLI runs in a child interpreter whose ``sys.meta_path``
starts with a finder that refuses them, as if ``pip install leaksleuth`` had been run without extras.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from leaksleuth.extras import MissingExtraError, require_extra
from tests.conftest import CAPTURES

DUMP = str(CAPTURES / "parked.goroutine.debug2.txt")
HEAP = str(CAPTURES / "heapkinds.heap.pb.gz")
GROWN = str(CAPTURES / "heapkinds.heap.grown.pb.gz")
GOROUTINE_PROFILE = str(CAPTURES / "parked.goroutine.pb.gz")
LEAKED = str(CAPTURES / "parked.goroutineleak.debug2.txt")
EXTRAS_MODULES = ("fastapi", "uvicorn", "starlette", "sqlalchemy", "fsspec", "dns", "kubernetes", "psycopg", "scipy")

_BLOCKED_CLI = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))

class NoExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: not in the base install)", name=name)
        return None

sys.meta_path.insert(0, NoExtras())
from leaksleuth.cli.main import main
code = main(sys.argv[2:])
leaked = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
print("imported-extras:", ",".join(leaked), file=sys.stderr)
sys.exit(code)
"""


def _without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCKED_CLI, ",".join(EXTRAS_MODULES), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", DUMP],
        ["inspect", "--json", HEAP],
        ["goroutines", DUMP],
        ["goroutines", GOROUTINE_PROFILE],
        ["heap", "top", HEAP],
        ["heap", "diff", HEAP, GROWN],
    ],
    ids=lambda args: " ".join(Path(a).name for a in args),
)
def test_file_commands_run_without_extras(args: list[str]) -> None:
    done = _without_extras(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert done.stderr.splitlines()[-1] == "imported-extras: "  # and none was imported behind the blocker


@pytest.mark.parametrize(
    ("args", "extra", "module"),
    [
        (["serve", "--no-auth"], "service", "fastapi"),
        (["snapshots", "list"], "service", "sqlalchemy"),
        (["watch", "http://127.0.0.1:9", "--rounds", "1", "--store", "{tmp}"], "service", "sqlalchemy"),
        (["watch", "--dns", "api.example:6060", "--no-store", "--rounds", "1"], "service", "dns"),
        (["watch", "--k8s", "--no-store", "--rounds", "1"], "k8s", "kubernetes"),
    ],
    ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else str(v),
)
def test_a_command_that_needs_an_extra_names_it(args: list[str], extra: str, module: str, tmp_path: Path) -> None:
    done = _without_extras(*(a.replace("{tmp}", str(tmp_path / "store")) for a in args))
    assert done.returncode == 2, done.stderr
    expected = (
        f"leaksleuth: error: this needs leaksleuth[{extra}] (missing module {module}): "
        f"pip install 'leaksleuth[{extra}]'"
    )
    lines = [line for line in done.stderr.splitlines() if not line.startswith("imported-extras:")]
    assert lines == [expected]
    assert "Traceback" not in done.stderr


def test_require_extra_passes_for_installed_modules_and_names_the_missing_one() -> None:
    require_extra("service", "json")  # any importable module: no error
    with pytest.raises(MissingExtraError, match=r"leaksleuth\[k8s\] \(missing module no_such_module_x\)"):
        require_extra("k8s", "json", "no_such_module_x")


_LOADED_AFTER = """
import sys
from leaksleuth.cli.main import main
assert main(sys.argv[1:]) == 0
print("numpy" in sys.modules, "google.protobuf" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("command", ["inspect", "goroutines"])
def test_a_goroutine_dump_is_read_without_numpy_or_protobuf(command: str) -> None:
    # a fresh interpreter: this test process has numpy loaded already
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_AFTER, command, DUMP], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False False"


_IMPORTED = """
import sys
from leaksleuth.cli.main import main
assert main(sys.argv[2:]) == 0
print("imported:", ",".join(m for m in sys.argv[1].split(",") if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "unused"),
    [
        (
            ["inspect", DUMP],
            "leaksleuth.analysis.goroutines.buckets,leaksleuth.analysis.runtime_health,leaksleuth.model.runtime,"
            "leaksleuth.model.memstats,leaksleuth.report.runtime,leaksleuth.httpio,json,hashlib,statistics",
        ),
        (["inspect", "--json", DUMP], "rich,leaksleuth.analysis.goroutines.buckets,leaksleuth.httpio,random"),
        (
            ["goroutines", DUMP],
            "leaksleuth.model.incidents,leaksleuth.model.runtime,leaksleuth.model.heap_report,leaksleuth.model.series,"
            "json,hashlib,statistics",
        ),
        (["goroutines", "--json", DUMP], "rich,leaksleuth.model.incidents,leaksleuth.model.heap_report,hashlib"),
    ],
    ids=lambda v: " ".join(Path(a).name for a in v) if isinstance(v, list) else "",
)
def test_a_dump_command_imports_only_what_it_uses(args: list[str], unused: str) -> None:
    # start-up is mostly imports (issue 18: <= 0.1 s): what a dump's inspect or goroutines table never uses stays out
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED, unused, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "imported: "


@pytest.mark.parametrize(
    ("args", "code"), [(["inspect", "--json", DUMP], 0), (["goroutines", "--json", LEAKED, "--fail-on", "0.01"], 1)]
)
def test_the_process_exits_with_the_commands_code_and_all_its_output(args: list[str], code: int) -> None:
    # cli.run freezes the collector before the interpreter exits: the output is still flushed, the code kept
    done = subprocess.run(
        [sys.executable, "-m", "leaksleuth", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == code, done.stderr
    assert json.loads(done.stdout)
