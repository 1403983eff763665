"""Runtime findings (runtime-config, gc-health) and the GC's numbers as text, for every terminal output: fleet,
watch and inspect read the same phrases. Data reaches the terminal only through ``data_text``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from leaksleuth.analysis.humanize import human_bytes, human_duration
from leaksleuth.model.runtime import GcFacts, NodeFacts, RuntimeFinding
from leaksleuth.model.verdict import iso_z
from leaksleuth.report.terminal import LINE_BREAK, data_text

if TYPE_CHECKING:  # inspect FILE renders runtime findings without the report model
    from leaksleuth.model.incidents import Incident
    from leaksleuth.model.report import TargetReport


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def gc_line(gc: GcFacts) -> str:
    """``GC: pauses p50 0.16 ms, p75 0.38 ms, max 0.55 ms; 12 GCs in 1m12s; CPU 0.3%; GOGC=100, GOMEMLIMIT 400 MiB``."""
    parts = []
    pauses = [
        f"{name} {_ms(value)}"
        for name, value in (("p50", gc.pause_p50_seconds), ("p75", gc.pause_p75_seconds), ("max", gc.pause_max_seconds))
        if value is not None
    ]
    if pauses and gc.pause_max_seconds != 0:  # no GC ran yet (or GOGC=off): the quantiles are all zero
        parts.append("pauses " + ", ".join(pauses))
    if gc.cycles is not None:
        parts.append(f"{gc.cycles} GCs" + (f" in {human_duration(gc.seconds)}" if gc.seconds else " since start"))
    if gc.cpu_fraction is not None:
        parts.append(f"GC CPU {gc.cpu_fraction:.1%}")
    if gc.stw_fraction is not None:
        parts.append(f"stop-the-world {gc.stw_fraction:.2%} of the time")
    if gc.next_gc_bytes is not None and gc.next_gc_bytes[1] < float(1 << 60):
        parts.append(f"NextGC {human_bytes(gc.next_gc_bytes[1])}")
    settings = []
    if gc.gogc_percent is not None:
        settings.append("GOGC=off" if gc.gogc_percent < 0 else f"GOGC={gc.gogc_percent}")
    if gc.gomemlimit_bytes is not None:
        settings.append(f"GOMEMLIMIT {human_bytes(gc.gomemlimit_bytes)}")
    if settings:
        parts.append(", ".join(settings))
    return "GC: " + "; ".join(parts) if parts else ""


def finding_text(finding: RuntimeFinding) -> Text:
    text = data_text((f"[{finding.klass}] ", "magenta"), (finding.category, "bold"), ": ", finding.summary)
    if finding.fix:
        text.append_text(data_text(LINE_BREAK, ("  fix: " + "; ".join(finding.fix), "dim")))
    return text


def runtime_table(targets: Sequence[TargetReport], *, title: str = "Runtime findings (not leaks)") -> Table | None:
    """One row per finding, per target; None when no target has one."""
    rows = [(t.target, f) for t in targets if t.runtime is not None for f in t.runtime.findings]
    return _findings_table(title, "target", rows)


def node_table(nodes: Sequence[NodeFacts], *, title: str = "Node findings (not leaks)") -> Table | None:
    """One row per node finding (socket memory above the threshold and growing); None when no node has one."""
    return _findings_table(title, "node", [(n.node, f) for n in nodes for f in n.findings])


def _findings_table(title: str, where: str, rows: Sequence[tuple[str, RuntimeFinding]]) -> Table | None:
    if not rows:
        return None
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column(where, no_wrap=True)
    table.add_column("finding", overflow="fold", ratio=1)
    for name, finding in rows:
        table.add_row(data_text(name), finding_text(finding))
    return table


def incident_text(incident: Incident) -> Text:
    """``incident knock-on on api (2026-…Z): <summary>`` and one dim line per affected peer."""
    text = data_text(
        ("incident ", "bold red"), (incident.kind, "bold"), f" on {incident.service} ({iso_z(incident.started_at)}): ",
        incident.summary,
    )  # fmt: skip
    for peer in incident.peers:
        line = (
            f"  {peer.instance}: {peer.metric} {human_bytes(peer.before_bytes)} → {human_bytes(peer.peak_bytes)} "
            f"(+{peer.rise_share:.0%}) {human_duration(peer.delay_seconds)} after {incident.victim} went down"
        )
        text.append_text(data_text(LINE_BREAK, (line, "dim")))
    return text
