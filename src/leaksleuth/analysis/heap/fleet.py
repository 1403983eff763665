"""Heap across nodes: N replicas of one service, each against the fleet median, so a single leaking pod stands out.

Replicas of one service run the same code under similar load, so their heaps look alike site by site. A replica
whose in-use total sits far above the fleet median (robust z-score over the median absolute deviation, with a
floor so a near-identical fleet does not make noise look huge) is an outlier, and the sites where it exceeds the
fleet's median for that site are where it differs. One snapshot per node cannot prove growth (only ``heap trend``
can), so fleet suspects stay below 0.9.

Other profiles of replicas (goroutine, block, mutex) compare the same way in their own unit; their counts are not
sampled per byte, so only heap profiles get the heap-sampling noise floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from leaksleuth.analysis.heap.paths import clusters
from leaksleuth.analysis.heap.sites import SiteAnnotation, SourceLines, annotate
from leaksleuth.analysis.heap.top import resolve_sample_index
from leaksleuth.analysis.heap.trend import SiteKey, profile_sampling_rate, site_totals
from leaksleuth.analysis.humanize import human_bytes, human_count
from leaksleuth.errors import ConfigError
from leaksleuth.model.heap_report import HeapFleetEvidence, HeapFleetFacts
from leaksleuth.model.profile import Profile, ValueType
from leaksleuth.model.report import Report, Suspect, TargetReport

MIN_NODES = 3
OUTLIER_Z = 3.0
MIN_RELATIVE_EXCESS = 0.2  # above the median total by at least this fraction of it
MIN_SHARE = 0.1  # a site explaining less of an outlier's excess is not worth a suspect


@dataclass(frozen=True, slots=True)
class SiteExcess:
    site: SiteKey
    value: int
    fleet_median: float

    @property
    def excess(self) -> float:
        return self.value - self.fleet_median


@dataclass(frozen=True, slots=True)
class NodeStanding:
    name: str
    total: int  # in the unit of the compared sample type (bytes for the heap's default, inuse_space)
    fleet_median: float
    robust_z: float
    outlier: bool
    sites: list[SiteExcess] = field(default_factory=list)  # where this node exceeds the fleet, largest first
    unit: str = "bytes"

    @property
    def excess(self) -> float:
        return self.total - self.fleet_median


def fleet_standings(
    nodes: Sequence[tuple[str, Profile]], *, sample_index: str | int | None = None
) -> list[NodeStanding]:
    """Each node's total against the fleet median, and its sites above the fleet, most extreme first.
    ``sample_index`` None: the profile's default sample type (a heap profile's is inuse_space), as pprof picks it."""
    return _standings(nodes, sample_index)[0]


def _noise_period(profile: Profile) -> int:
    """Bytes between heap samples for a heap profile; 1 for counts and delays (a count varies by about its root)."""
    heap = profile.period_type is not None and profile.period_type.unit == "bytes"
    return profile_sampling_rate(profile) if heap else 1


def _standings(
    nodes: Sequence[tuple[str, Profile]], sample_index: str | int | None
) -> tuple[list[NodeStanding], dict[int, SiteAnnotation]]:
    """``fleet_standings``, and the allocation sites of the outliers' profiles (by ``id``) for their clusters."""
    if len(nodes) < MIN_NODES:
        raise ConfigError(
            f"a fleet comparison needs at least {MIN_NODES} nodes, got {len(nodes)}",
            hint="give two profiles to diff one against the other",
        )
    index = resolve_sample_index(nodes[0][1], sample_index)
    unit = nodes[0][1].sample_types[index].unit
    totals = np.array([int(profile.samples.values[:, index].sum()) for _, profile in nodes], dtype=np.float64)
    median = float(np.median(totals))
    rate = max(_noise_period(profile) for _, profile in nodes)
    mad = 1.4826 * float(np.median(np.abs(totals - median)))
    # floors: a near-identical fleet has a tiny MAD, and every total carries heap-sampling noise
    spread = max(mad, 0.05 * median, float(np.sqrt(max(median, 1.0) * rate)))
    scores = [(total - median) / spread for total in totals.tolist()]
    outliers = [
        z >= OUTLIER_Z and total - median >= MIN_RELATIVE_EXCESS * median
        for z, total in zip(scores, totals.tolist(), strict=True)
    ]
    per_node: list[dict[SiteKey, int]] = []
    kept: dict[int, SiteAnnotation] = {}
    for (_, profile), outlier in zip(nodes, outliers, strict=True):
        annotation = annotate(profile)
        per_node.append({key: total for key, (_, total) in site_totals(profile, index, annotation).items()})
        if outlier:
            kept[id(profile)] = annotation
    all_sites = sorted({site for sites in per_node for site in sites})
    site_medians = {site: float(np.median([sites.get(site, 0) for sites in per_node])) for site in all_sites}
    standings = []
    for (name, _), sites, total, z, outlier in zip(nodes, per_node, totals.tolist(), scores, outliers, strict=True):
        above = [SiteExcess(site, value, site_medians[site]) for site, value in sites.items()]
        above = sorted((s for s in above if s.excess > 0), key=lambda s: -s.excess)
        standings.append(NodeStanding(name, int(total), median, round(z, 2), outlier, above[:10], unit))
    standings.sort(key=lambda s: -s.robust_z)
    return standings, kept


def fleet_report(
    nodes: Sequence[tuple[str, Profile]],
    *,
    sample_index: str | int | None = None,
    source_lines: SourceLines | None = None,
    max_suspects: int = 3,
) -> Report:
    """A ``leaksleuth/report@1`` document: one target per node; outlier nodes carry heap suspects."""
    standings, annotations = _standings(nodes, sample_index)
    profiles = dict(nodes)
    value_type = _value_type(nodes[0][1], sample_index)
    report = Report()
    for standing in standings:
        target = TargetReport(target=standing.name, snapshots=1)
        target.fleet = _fleet_facts(standing, value_type, len(nodes))
        if standing.outlier:
            profile = profiles[standing.name]
            index = resolve_sample_index(profile, sample_index)
            kinds: dict[SiteKey, str] = {}
            annotation = annotations.get(id(profile))
            for cluster in clusters(profile, index, source_lines=source_lines, annotation=annotation):
                kinds.setdefault((cluster.site.function, cluster.site.file, cluster.site.line), cluster.kind.kind)
            for site in standing.sites[:max_suspects]:
                if site.excess >= MIN_SHARE * standing.excess:
                    target.suspects.append(_suspect(standing, site, kinds.get(site.site, "unknown")))
        report.targets.append(target)
    return report


def _value_type(profile: Profile, sample_index: str | int | None) -> ValueType:
    return profile.sample_types[resolve_sample_index(profile, sample_index)]


def _fleet_facts(standing: NodeStanding, value_type: ValueType, nodes: int) -> HeapFleetFacts:
    return HeapFleetFacts(
        value_type.type,
        value_type.unit,
        standing.total,
        round(standing.fleet_median),
        round(standing.excess),
        standing.robust_z,
        standing.outlier,
        nodes,
    )


def _amount(value: float, unit: str, *, signed: bool = False) -> str:
    if unit == "bytes":
        return human_bytes(value, signed=signed)
    text = human_count(value) + ("" if unit == "count" else f" {unit}")
    return f"+{text}" if signed and value >= 0 else text


def _suspect(standing: NodeStanding, site: SiteExcess, kind: str) -> Suspect:
    function, file, line = site.site
    share = site.excess / standing.excess if standing.excess > 0 else 0.0
    strength = min(0.85, 0.55 + 0.05 * (standing.robust_z - OUTLIER_Z))
    confidence = round(strength * min(1.0, 1.25 * share), 3)
    unit = standing.unit
    summary = (
        f"{standing.name} holds {_amount(standing.excess, unit, signed=True)} more than the fleet median "
        f"({_amount(standing.fleet_median, unit)}, z={standing.robust_z:.1f}); {function} "
        f"({file.rsplit('/', 1)[-1]}:{line}) accounts for {_amount(site.excess, unit, signed=True)} of it"
    )
    evidence = HeapFleetEvidence(
        site=f"{file}:{line}",
        kind=kind,
        unit=unit,
        node_value=site.value,
        fleet_median=round(site.fleet_median),
        share_of_excess=round(share, 3),
        robust_z=standing.robust_z,
    )
    return Suspect("heap", "fleet-outlier", function, file, line, confidence, summary, evidence)
