"""The instance page with 120 stored rounds, timed by Chromium itself, beside `go tool pprof -http` on one profile.

    python bench/dashboard_bench.py [--rounds 120] [--repeat 5]

A real Go service (testdata/go goleaks, leaking goroutines) is watched by a real `leaksleuth serve --watch` every
0.3 s until its instance has ROUNDS heap profiles (and as many goroutine snapshots and series points). Debian's
Chromium (Playwright, a fresh profile) then opens the instance page REPEAT times; each load reports the browser's
Navigation Timing (response end, DOMContentLoaded, load) and the page's own performance mark when all four uPlot
charts are drawn. The anchor is `go tool pprof -http` serving the newest of those heap profiles: its top table and
flame graph (its graph view needs Graphviz) timed the same way, beside our flame graph and diff flame graph pages.
Medians are printed and written to bench/out/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.golive import build, running  # noqa: E402
from tests.support.prometheus_live import free_port, wait_for  # noqa: E402

OUT = HERE / "out"
TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const ready = performance.getEntriesByName("leaksleuth-charts-ready")[0];
  return {response: nav.responseEnd, dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          charts: ready ? ready.startTime : null, bytes: nav.transferSize};
}"""


def timed(context, url: str, ready: str, repeat: int) -> dict[str, float | None]:
    runs = []
    for _ in range(repeat):
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_selector(ready, state="attached")
        page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
        runs.append(page.evaluate(TIMING))
        page.close()
    return {key: statistics.median(r[key] for r in runs) if runs[0][key] is not None else None for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    go = shutil.which("go", path=str(Path(sys.executable).parent)) or shutil.which("go") or sys.exit("no go")
    work = Path(tempfile.mkdtemp(prefix="leaksleuth-dashboard-bench-"))
    try:
        binary = build(go, "goleaks", work)
        with running([str(binary), "-mode", "timeout-send", "-every", "20ms"]) as (_, address):
            port = free_port()
            serve = subprocess.Popen(
                [sys.executable, "-m", "leaksleuth", "serve", "--listen", f"127.0.0.1:{port}", "--no-auth",
                 "--store", str(work / "store"), "--watch", f"http://{address}", "--interval", "0.3s"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            try:
                return measure(base, work, args.rounds, args.repeat)
            finally:
                serve.terminate()
                serve.wait(timeout=20)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(base: str, work: Path, rounds: int, repeat: int) -> int:
    started = time.monotonic()

    def filled() -> bool:
        return len(httpx.get(f"{base}/instance/1/chart.json", timeout=5).json()["heap"]) >= rounds

    wait_for(filled, timeout=rounds * 2.0 + 60, interval=1.0, what=f"{rounds} heap profiles")
    print(f"store filled: {rounds} rounds in {time.monotonic() - started:.0f} s", file=sys.stderr)
    chart = httpx.get(f"{base}/instance/1/chart.json", timeout=5).json()
    oldest, newest = chart["heap"][0][1], chart["heap"][-1][1]
    profile = work / "newest.heap.pb.gz"
    profile.write_bytes(httpx.get(f"{base}/snapshots/{newest}", timeout=10).content)
    pprof_port = free_port()
    go = shutil.which("go", path=str(Path(sys.executable).parent)) or "go"
    pprof = subprocess.Popen(
        [go, "tool", "pprof", f"-http=127.0.0.1:{pprof_port}", "-no_browser", str(profile)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    anchor = f"http://127.0.0.1:{pprof_port}"
    try:
        wait_for(lambda: httpx.get(f"{anchor}/ui/top", timeout=2).status_code == 200, timeout=60, what="pprof -http")
        with chromium() as context:
            results = {
                f"instance page, {len(chart['times'])} rounds ({len(chart['heap'])} heap profiles)": timed(
                    context, f"{base}/instance/1", "body[data-charts-ready]", repeat
                ),
                "fleet page": timed(context, f"{base}/", "#fleet-table", repeat),
                "our flame graph (newest heap profile)": timed(
                    context, f"{base}/instance/1/flame?snapshot={newest}", "#chart", repeat
                ),
                "our diff flame graph (newest - oldest)": timed(
                    context, f"{base}/instance/1/flame?snapshot={newest}&base={oldest}", "#chart", repeat
                ),
                "anchor: go tool pprof -http top (same newest profile)": timed(
                    context, f"{anchor}/ui/top", "body", repeat
                ),
                "anchor: go tool pprof -http flame graph": timed(context, f"{anchor}/ui/flamegraph", "body", repeat),
            }
    finally:
        pprof.terminate()
        pprof.wait(timeout=10)
    print(f"{'page':70} {'response':>9} {'DOM ready':>9} {'load':>9} {'charts':>9}  (ms, median of {repeat})")
    for name, timing in results.items():
        cells = [
            f"{timing[k]:9.0f}" if timing[k] is not None else f"{'-':>9}" for k in ("response", "dom", "load", "charts")
        ]
        print(f"{name:70} {' '.join(cells)}")
    OUT.mkdir(exist_ok=True)
    (OUT / "dashboard.json").write_text(json.dumps(results, indent=2) + "\n")
    instance = next(iter(results.values()))
    return 0 if (instance["charts"] or instance["load"]) < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
