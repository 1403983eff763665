"""Goroutines with no bound (6): one goroutine per received message with nothing bounding them, a semaphore
acquired inside the goroutine it should bound, and a worker whose loop has no way out (every call leaves one more
goroutine behind). Each check is ``GoFile -> list[Finding]``, as in ``channels.py``.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from leaksleuth.analysis.source.channels import channels_made, receives_of, select_cases
from leaksleuth.analysis.source.findings import Finding, Related
from leaksleuth.analysis.source.syntax import (
    GoFile,
    enclosing_function,
    function_name,
    go_literal,
    in_loop,
    inside,
    line,
    owned_by,
    text,
)

_MESSAGE_SOURCES = re.compile(r"\.(Accept|Receive|ReceiveMessage|Recv|ReadMessage|Next|Fetch|Subscribe)\w*\(")


def unbounded_goroutines(go: GoFile) -> list[Finding]:
    """(6) A goroutine per received message with no bound; a semaphore acquired inside the goroutine it bounds."""
    found = []
    for statement in go.nodes("go_statement"):
        owner = enclosing_function(statement)
        literal = go_literal(statement)
        if owner is None:
            continue
        loop = in_loop(statement, owner)
        if loop is not None and _receive_loop(go, loop) and not _acquired_before(go, statement, loop):
            found.append(
                Finding(
                    "unbounded-goroutines",
                    go.path,
                    line(statement),
                    function_name(owner),
                    f"one goroutine per message received by the loop at line {line(loop)}, with no bound: "
                    "a slow consumer piles them up",
                    "bound them: a worker pool reading the channel, or "
                    "a semaphore acquired before `go` (sem <- struct{}{})",
                    (Related(line(loop), "the loop receiving messages"),),
                )
            )
        if literal is not None:
            found.extend(_semaphore_inside(go, statement, literal, owner))
    return found


def _receive_loop(go: GoFile, loop: Node) -> bool:
    clause = loop.named_children[0] if loop.named_children else None
    if clause is not None and clause.type == "range_clause":
        ranged = text(clause.child_by_field_name("right"))
        owner = enclosing_function(loop)
        parameters = text(owner.child_by_field_name("parameters")) if owner is not None else ""
        return (
            ranged in channels_made(go, None)
            or ranged in channels_made(go, owner)
            or re.search(rf"\b{re.escape(ranged)}\s+(<-\s*)?chan\b", parameters) is not None
        )
    if clause is not None and clause.type != "block":
        return False  # a counted loop (for i := 0; i < n; i++) or a condition: bounded by it
    header = text(loop)
    return bool(_MESSAGE_SOURCES.search(header)) or any(
        owned_by(n, enclosing_function(loop) or loop)
        and inside(n, loop)
        and text(n.child_by_field_name("operator")) == "<-"
        for n in go.nodes("unary_expression")
    )


def _acquired_before(go: GoFile, statement: Node, loop: Node) -> bool:
    before = text(loop)[: statement.start_byte - loop.start_byte]
    return bool(re.search(r"<-\s*struct\{\}\{\}|\.Acquire\(|\.Wait\(\)|\.Go\(", before))


def _semaphore_inside(go: GoFile, statement: Node, literal: Node, owner: Node) -> list[Finding]:
    sends = [s for s in go.nodes("send_statement") if owned_by(s, literal)]
    if not sends:
        return []
    first = sends[0]
    name = text(first.child_by_field_name("channel"))
    releases = [e for e, node in receives_of(go, literal) if e == name]
    if text(first.child_by_field_name("value")) != "struct{}{}" or not releases:
        return []
    return [
        Finding(
            "unbounded-goroutines",
            go.path,
            line(first),
            function_name(owner) or "func literal",
            f"the semaphore {name} is acquired inside the goroutine it should bound: goroutines pile up "
            "blocked here instead of the caller waiting",
            f"acquire before starting it ({name} <- struct{{}}{{}}"
            " then go func() { defer func() { <-" + name + " }() … }())",
            (Related(line(statement), "started without waiting for a slot"),),
        )
    ]


def worker_no_exit(go: GoFile) -> list[Finding]:
    """(6) A goroutine with ``select {}`` or a ``for {}`` it never leaves, started outside main/init."""
    found = []
    for statement in go.nodes("go_statement"):
        literal = go_literal(statement)
        owner = enclosing_function(statement)
        if literal is None or owner is None or function_name(owner) in ("main", "init"):
            continue
        for select in go.nodes("select_statement"):
            if owned_by(select, literal) and not select_cases(select):
                found.append(_no_exit(go, owner, select, statement, "select {} blocks for ever"))
        for loop in go.nodes("for_statement"):
            endless = owned_by(loop, literal) and loop.named_children and loop.named_children[0].type == "block"
            if endless and not re.search(r"\b(return|break|goto|panic|os\.Exit|Goexit)\b", text(loop)):
                found.append(_no_exit(go, owner, loop, statement, "this for {} has no way out"))
    return found


def _no_exit(go: GoFile, owner: Node, node: Node, statement: Node, what: str) -> Finding:
    return Finding(
        "worker-no-exit",
        go.path,
        line(node),
        function_name(owner) or "func literal",
        f"{what}: every call of {function_name(owner) or 'this function'} leaves one more goroutine behind",
        "give the goroutine an exit: select on ctx.Done() (or a done channel) and return",
        (Related(line(statement), "goroutine started here"),),
    )


CHECKS = (unbounded_goroutines, worker_no_exit)
