"""``leaksleuth lint`` on ~100k lines of generated Go, beside ``go vet`` (the anchor: its lostcancel pass is the
one pattern both have) on the same files, and on the repository's own Go (the leak corpus, the lint corpus, the
demo service and the bench programs), which the issue wants linted in under 2 s.

The generated module (bench/out/lintgen, not committed) is valid Go, so ``go vet ./...`` type-checks it: each
package mixes the leak patterns with their fixed twins and plain code, as a service would. ``go vet`` runs with a
fresh GOCACHE each time (it caches results per package: a second run of an unchanged tree is free).

    python bench/lint_bench.py [--lines 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import OUT, PYTHON, ROOT, go_binary, run_measured

FUNCTIONS = (
    # (template, leaks): {n} makes every name unique in its package
    (
        'func timeout{n}() int {{\n\tresult := make(chan int)\n\tgo func() {{\n\t\tresult <- len("{n}")\n\t}}()\n'
        "\tselect {{\n\tcase v := <-result:\n\t\treturn v\n\tcase <-time.After(time.Millisecond):\n"
        "\t\treturn 0\n\t}}\n}}\n",
        True,
    ),
    (
        'func buffered{n}() int {{\n\tresult := make(chan int, 1)\n\tgo func() {{\n\t\tresult <- len("{n}")\n\t}}()\n'
        "\tselect {{\n\tcase v := <-result:\n\t\treturn v\n\tcase <-time.After(time.Millisecond):\n"
        "\t\treturn 0\n\t}}\n}}\n",
        False,
    ),
    (
        "func cancel{n}(parent context.Context, skip bool) error {{\n"
        "\tctx, cancel := context.WithTimeout(parent, time.Second)\n\tif skip {{\n\t\treturn nil\n\t}}\n"
        "\tdefer cancel()\n\treturn ctx.Err()\n}}\n",
        True,
    ),
    (
        "func deferred{n}(parent context.Context) error {{\n"
        "\tctx, cancel := context.WithTimeout(parent, time.Second)\n\tdefer cancel()\n\treturn ctx.Err()\n}}\n",
        False,
    ),
    (
        "func (s *store) get{n}(key string) (int, bool) {{\n\ts.mu.Lock()\n\tv, ok := s.items[key]\n"
        "\tif !ok {{\n\t\treturn 0, false\n\t}}\n\ts.mu.Unlock()\n\treturn v, true\n}}\n",
        True,
    ),
    (
        "func (s *store) put{n}(key string, v int) {{\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n"
        '\ts.items[key] = v + len("{n}")\n}}\n',
        False,
    ),
    (
        "func sum{n}(values []int) int {{\n\ttotal := 0\n\tfor i, v := range values {{\n\t\tif i%2 == 0 {{\n"
        '\t\t\ttotal += v * len("{n}")\n\t\t}} else {{\n\t\t\ttotal -= v\n\t\t}}\n\t}}\n'
        '\tlabel := fmt.Sprintf("sum-%d", total)\n\treturn total + len(label)\n}}\n',
        False,
    ),
    (
        "func pool{n}(jobs chan int) {{\n\tvar wg sync.WaitGroup\n\tfor i := 0; i < 4; i++ {{\n\t\twg.Add(1)\n"
        '\t\tgo func() {{\n\t\t\tdefer wg.Done()\n\t\t\tfor j := range jobs {{\n\t\t\t\t_ = j + len("{n}")\n'
        "\t\t\t}}\n\t\t}}()\n\t}}\n\twg.Wait()\n}}\n",
        False,
    ),
)
HEADER = (
    'package p{package}\n\nimport (\n\t"context"\n\t"fmt"\n\t"sync"\n\t"time"\n)\n\n'
    "type store struct {{\n\tmu    sync.Mutex\n\titems map[string]int\n}}\n\n"
    "var _ = fmt.Sprint\nvar _ context.Context\nvar _ = time.Second\n\n"
)
FILE_LINES = 1000


def generate(root: Path, lines: int) -> tuple[int, int, int]:
    """A Go module of ~``lines`` lines under ``root``: (files, lines, leaking functions)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "go.mod").write_text("module lintgen\n\ngo 1.22\n")
    files = written = leaks = 0
    while written < lines:
        package = files // 10
        folder = root / f"p{package}"
        folder.mkdir(exist_ok=True)
        parts = [HEADER.format(package=package) if files % 10 == 0 else f'package p{package}\n\nimport "time"\n\n']
        if files % 10 != 0:
            parts.append("var _ = time.Second\n\n")
        count = 0
        while sum(p.count("\n") for p in parts) < FILE_LINES:
            template, leaky = FUNCTIONS[count % len(FUNCTIONS)]
            if files % 10 != 0 and ("context." in template or "fmt." in template or "sync." in template):
                count += 1
                continue
            parts.append(template.format(n=f"{files}_{count}") + "\n")
            leaks += leaky
            count += 1
        text = "".join(parts)
        (folder / f"f{files}.go").write_text(text)
        written += text.count("\n")
        files += 1
    return files, written, leaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    module = OUT / "lintgen"
    files, lines, leaks = generate(module, args.lines)
    lint = [PYTHON, "-m", "leaksleuth", "lint", "--json", "--fail-on", "never", str(module)]
    ours = run_measured(lint, args.repeat)
    found = json.loads(ours.stdout)
    assert found["lines"] == lines, (found["lines"], lines)
    go = go_binary()
    with tempfile.TemporaryDirectory(prefix="leaksleuth-vet-") as cache:
        environment = {**os.environ, "GOCACHE": cache, "GOFLAGS": "-mod=mod"}
        vet = _vet_measured(go, module, environment, args.repeat)
    corpus = [ROOT / "testdata" / "go", ROOT / "testdata" / "lint", ROOT / "src/leaksleuth/cli/demo_service"]
    corpus += [ROOT / "bench" / "gen", ROOT / "bench" / "replay"]
    own = run_measured([PYTHON, "-m", "leaksleuth", "lint", "--fail-on", "never", *map(str, corpus)], args.repeat)
    own_lines = sum(p.read_bytes().count(b"\n") for folder in corpus for p in folder.rglob("*.go"))
    print(f"generated: {files} files, {lines:,} lines, {leaks} leaking functions")
    print(
        f"leaksleuth lint: {ours.seconds:.2f} s ({lines / ours.seconds:,.0f} lines/s, {ours.rss_mb:.0f} MB), "
        f"{len(found['findings'])} findings"
    )
    print(
        f"go vet ./... (fresh GOCACHE): {vet:.2f} s ({lines / vet:,.0f} lines/s); lint/vet = {ours.seconds / vet:.2f}"
    )
    print(f"the repository's own Go ({own_lines:,} lines): {own.seconds:.2f} s")


def _vet_measured(go: str, module: Path, environment: dict[str, str], repeat: int) -> float:
    """The fastest of ``repeat`` cold ``go vet ./...`` runs (the cache emptied before each)."""
    import time

    best = float("inf")
    cache = Path(environment["GOCACHE"])
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        started = time.perf_counter()
        done = subprocess.run([go, "vet", "./..."], cwd=module, env=environment, capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
        if done.returncode not in (0, 1) or b"\nvet: " in b"\n" + done.stderr:  # 1: findings; `vet:` a type error
            raise SystemExit(f"bench: go vet failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    return best


if __name__ == "__main__":
    main()
