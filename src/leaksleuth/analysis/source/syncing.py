"""Synchronisation patterns: WaitGroup misuse (5), a lock left held (7), package-level collections that only grow
(7, the heap-leak cousin). Each check is ``GoFile -> list[Finding]``."""

from __future__ import annotations

import re

from tree_sitter import Node

from leaksleuth.analysis.source.findings import Finding, Related
from leaksleuth.analysis.source.syntax import (
    GoFile,
    arguments,
    assigned_names,
    assigned_values,
    callee,
    enclosing_function,
    function_name,
    go_literal,
    in_loop,
    inside,
    line,
    owned_by,
    text,
)


def _calls(go: GoFile, method: str, region: Node) -> list[tuple[str, Node]]:
    """(receiver, call) for every ``receiver.method(…)`` inside ``region``."""
    suffix = f".{method}"
    return [
        (callee(c).removesuffix(suffix), c)
        for c in go.nodes("call_expression")
        if inside(c, region) and callee(c).endswith(suffix)
    ]


def _deferred(call: Node) -> bool:
    return call.parent is not None and call.parent.type == "defer_statement"


def waitgroup_misuse(go: GoFile) -> list[Finding]:
    """(5) ``wg.Add`` inside the goroutine it counts; fewer ``wg.Done`` goroutines than ``wg.Add(N)`` says; a
    ``wg.Done`` that an early return skips."""
    found = []
    for statement in go.nodes("go_statement"):
        literal, owner = go_literal(statement), enclosing_function(statement)
        if literal is None or owner is None:
            continue
        waited = {group for group, call in _calls(go, "Wait", owner) if not inside(call, literal)}
        for group, add in _calls(go, "Add", literal):
            if group in waited and owned_by(add, literal):
                found.append(
                    Finding(
                        "waitgroup-misuse",
                        go.path,
                        line(add),
                        function_name(owner) or "func literal",
                        f"{group}.Add inside the goroutine it counts: {group}.Wait can return before it runs",
                        f"call {group}.Add before the go statement",
                    )
                )
        for group, done in _calls(go, "Done", literal):
            if not owned_by(done, literal) or _deferred(done):
                continue
            early = [r for r in go.nodes("return_statement") if owned_by(r, literal) and r.start_byte < done.start_byte]
            if early:
                found.append(
                    Finding(
                        "waitgroup-misuse",
                        go.path,
                        line(early[0]),
                        function_name(owner) or "func literal",
                        f"this return skips {group}.Done(): {group}.Wait blocks for ever",
                        f"defer {group}.Done() as the goroutine's first statement",
                        (Related(line(done), "Done only on this path"),),
                    )
                )
    for function in (*go.nodes("function_declaration"), *go.nodes("func_literal"), *go.nodes("method_declaration")):
        found.extend(_missing_done(go, function))
    return found


def _missing_done(go: GoFile, function: Node) -> list[Finding]:
    found = []
    for group, add in _calls(go, "Add", function):
        count = arguments(add)
        if add.parent is None or add.parent.type != "expression_statement":
            continue  # a value: an atomic counter's Add, not a WaitGroup's
        if not owned_by(add, function) or in_loop(add, function) or len(count) != 1 or not text(count[0]).isdigit():
            continue
        workers = [s for s in go.nodes("go_statement") if owned_by(s, function)]
        if any(in_loop(s, function) or go_literal(s) is None for s in workers):
            continue  # counted in a loop, or goroutines running named functions: Done may be in there
        doing = [s for s in workers if _calls(go, "Done", s)]
        if len(doing) >= int(text(count[0])):
            continue
        waits = [c for g, c in _calls(go, "Wait", function) if g == group]
        at = waits[0] if waits else add
        found.append(
            Finding(
                "waitgroup-misuse",
                go.path,
                line(at),
                function_name(function) or "func literal",
                f"{group}.Add({text(count[0])}) but only {len(doing)} goroutine(s) call {group}.Done: "
                f"{group}.Wait never returns",
                f"defer {group}.Done() in every goroutine {group} counts",
                (
                    Related(line(add), "the count"),
                    *(
                        Related(line(s), f"goroutine without {group}.Done")
                        for s in workers
                        if s not in doing and not _calls(go, "Wait", s)
                    ),
                ),
            )
        )
    return found


def unlock_missing(go: GoFile) -> list[Finding]:
    """(7) ``mu.Lock()`` with no ``Unlock`` in the function, or a return between them with no ``defer``."""
    found = []
    for method, release in (("Lock", "Unlock"), ("RLock", "RUnlock")):
        for mutex, lock in _calls(go, method, go.tree.root_node):
            function = enclosing_function(lock)
            if function is None or arguments(lock) or function_name(function).lower().endswith("lock"):
                continue
            unlocks = [c for m, c in _calls(go, release, function) if m == mutex]
            if any(_deferred(c) for c in unlocks):
                continue
            others = [c for m, c in _calls(go, method, go.tree.root_node) if m == mutex and c != lock]
            blocked = tuple(Related(line(c), "blocks here while it is held") for c in others[:3])
            after = [c for c in unlocks if c.start_byte > lock.end_byte]
            if not after:
                found.append(
                    Finding(
                        "unlock-missing",
                        go.path,
                        line(lock),
                        function_name(function) or "func literal",
                        f"{mutex}.{method}() is never released in this function: every later "
                        f"{mutex}.{method}() waits for ever",
                        f"defer {mutex}.{release}() right after locking",
                        blocked,
                    )
                )
                continue
            first = min(c.start_byte for c in after)
            exits = [
                r
                for r in go.nodes("return_statement")
                if owned_by(r, function) and lock.end_byte < r.start_byte < first
            ]
            if exits:
                found.append(
                    Finding(
                        "unlock-missing",
                        go.path,
                        line(lock),
                        function_name(function) or "func literal",
                        f"the return at line {line(exits[0])} leaves {mutex} locked",
                        f"defer {mutex}.{release}() right after locking",
                        (Related(line(exits[0]), "returns with the lock held"), *blocked),
                    )
                )
    return found


_MAP_VALUE = re.compile(r"^(make\(map\[|map\[)")
_SLICE_VALUE = re.compile(r"^(\[\]|make\(\[\])")


def grow_only_global(go: GoFile) -> list[Finding]:
    """(7) A package-level map, ``sync.Map`` or slice that request code only adds to: nothing deletes, resets or
    bounds it (a ``len(x)`` check counts as a bound), so it grows for the life of the process."""
    found = []
    source = go.source.decode("utf-8", "replace")
    for spec in go.nodes("var_spec"):
        if enclosing_function(spec) is not None:
            continue
        kind_text = text(spec.child_by_field_name("type"))
        values = assigned_values(spec)
        for index, name in enumerate(assigned_names(spec)):
            value = text(values[index]) if index < len(values) else ""
            kind = _collection_kind(kind_text, value)
            if kind is None or name == "_" or re.search(rf"\blen\({re.escape(name)}\)", source):
                continue
            finding = _grows(go, spec, name, kind)
            if finding is not None:
                found.append(finding)
    return found


def _collection_kind(type_text: str, value: str) -> str | None:
    if type_text == "sync.Map":
        return "sync.Map"
    if type_text.startswith("map[") or _MAP_VALUE.match(value):
        return "map"
    if type_text.startswith("[]") or (not type_text and _SLICE_VALUE.match(value) and value.endswith("{}")):
        return "slice"
    return None


def _grows(go: GoFile, spec: Node, name: str, kind: str) -> Finding | None:
    source = go.source.decode("utf-8", "replace")
    writes = _writes(go, name, kind)
    writes = [w for w in writes if function_name(_top_function(w)) not in ("main", "init")]
    if not writes:
        return None
    word = re.escape(name)
    removal = {
        "map": rf"\bdelete\({word}\b|\bclear\({word}\)|\b{word}\s*=\s*(make|map|nil)",
        "sync.Map": rf"\b{word}\.(Delete|LoadAndDelete|Clear|CompareAndDelete)\(|\b{word}\s*=\s*sync\.Map",
        "slice": rf"\b{word}\s*+=\s*+(?!append\({word}\b)|\bclear\({word}\)",
    }[kind]
    if re.search(removal, source[: spec.start_byte] + source[spec.end_byte :]):
        return None  # (the declaration's own `= map…{}` is not a reset)
    first = writes[0]
    related = [Related(line(w), "adds here too") for w in writes[1:3]]
    related.extend(_retained_allocations(go, first))
    what = {"map": "map", "sync.Map": "sync.Map", "slice": "slice"}[kind]
    verb = "appended to" if kind == "slice" else "written"
    return Finding(
        "grow-only-global",
        go.path,
        line(first),
        function_name(_top_function(first)),
        f"package-level {what} {name} is only ever {verb}: nothing deletes from it or bounds it, so it "
        "grows for the life of the process",
        "bound it: delete entries when done (or expire them), cap its size, or keep it per request",
        tuple(related),
    )


def _top_function(node: Node) -> Node:
    function = enclosing_function(node)
    while function is not None and function.type == "func_literal" and enclosing_function(function) is not None:
        function = enclosing_function(function)
    return function if function is not None else node


def _writes(go: GoFile, name: str, kind: str) -> list[Node]:
    if kind == "sync.Map":
        return [
            c
            for c in go.nodes("call_expression")
            if callee(c) in (f"{name}.Store", f"{name}.LoadOrStore", f"{name}.Swap")
        ]
    found = []
    for statement in go.nodes("assignment_statement"):
        if enclosing_function(statement) is None:
            continue
        left_side = statement.child_by_field_name("left")
        left = [text(n) for n in left_side.named_children] if left_side is not None else []
        values = assigned_values(statement)
        if (kind == "map" and any(t.startswith(f"{name}[") and "%" not in t for t in left)) or (
            kind == "slice" and left == [name] and values and text(values[0]).startswith(f"append({name},")
        ):  # (m[i%16] = v writes a bounded set of keys)
            found.append(statement)
    return found


def _retained_allocations(go: GoFile, write: Node) -> list[Related]:
    """The local buffer an append keeps alive: ``append(log, buf[:16])`` retains all of ``buf`` (made above)."""
    values = assigned_values(write)
    call = values[0] if values and values[0].type == "call_expression" else None
    if call is None:
        return []
    function = enclosing_function(write)
    found = []
    for argument in arguments(call)[1:]:
        root = argument.child_by_field_name("operand") if argument.type == "slice_expression" else argument
        if root is None or root.type != "identifier":
            continue
        for statement in go.nodes("short_var_declaration"):
            if function is not None and owned_by(statement, function) and text(root) in assigned_names(statement):
                note = (
                    "allocated here, kept whole by the sub-slice appended"
                    if argument.type == "slice_expression"
                    else "allocated here and kept"
                )
                found.append(Related(line(statement), note))
    return found


CHECKS = (waitgroup_misuse, unlock_missing, grow_only_global)
