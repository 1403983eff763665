"""Resource patterns: tickers and timers never stopped (2), contexts never cancelled or not passed on (3), response
bodies never closed (4). Each check is ``GoFile -> list[Finding]`` over one function at a time."""

from __future__ import annotations

import re

from tree_sitter import Node

from leaksleuth.analysis.source.findings import Finding, Related
from leaksleuth.analysis.source.syntax import (
    GoFile,
    assigned_names,
    assigned_values,
    body,
    callee,
    dominates,
    enclosing_function,
    function_name,
    handed_on,
    identifiers,
    inside,
    line,
    owned_by,
    text,
)

_TIMERS = ("time.NewTicker", "time.NewTimer")
_CANCELLABLE = re.compile(r"^context\.With(Cancel|Timeout|Deadline)(Cause)?$")
_REQUEST_CALLS = re.compile(
    r"^(http\.(Get|Post|Head|PostForm)|http\.DefaultClient\.\w+|.+\.(Do|Get|Post|Head|PostForm))$"
)


def _bindings(go: GoFile, pattern: re.Pattern[str] | tuple[str, ...]) -> list[tuple[Node, list[str], Node]]:
    """(statement, names, call) for ``a, b := f(…)`` / ``a, b = f(…)`` / ``var a, b = f(…)`` where f matches."""
    found = []
    for kind in ("short_var_declaration", "assignment_statement", "var_spec"):
        for statement in go.nodes(kind):
            values = assigned_values(statement)
            if len(values) != 1 or values[0].type != "call_expression":
                continue
            name = callee(values[0])
            if (name in pattern) if isinstance(pattern, tuple) else pattern.match(name):
                found.append((statement, assigned_names(statement), values[0]))
    return found


def ticker_not_stopped(go: GoFile) -> list[Finding]:
    """(2) ``time.NewTicker``/``NewTimer`` never stopped in its function; ``time.Tick`` in a function that returns."""
    found = []
    for statement, names, call in _bindings(go, _TIMERS):
        function = enclosing_function(statement)
        if function is None or not names or names[0] == "_":
            continue
        name = names[0]
        if f"{name}.Stop()" in text(function) or handed_on(go, name, function):
            continue
        waits = [u for u in identifiers(go, name, function) if text(u.parent) == f"{name}.C"]
        related = tuple(Related(line(w), f"waits on {name}.C for ever") for w in waits[:1])
        found.append(
            Finding(
                "ticker-not-stopped",
                go.path,
                line(call),
                function_name(function) or "func literal",
                f"{callee(call)} is never stopped: its {name} keeps firing (and its goroutine, if it "
                "ranges over it, never ends)",
                f"defer {name}.Stop() right after creating it, and leave the loop on ctx.Done()",
                related,
            )
        )
    for call in go.nodes("call_expression"):
        function = enclosing_function(call)
        if callee(call) != "time.Tick" or function is None or function_name(function) in ("main", "init"):
            continue
        if not any(owned_by(r, function) for r in go.nodes("return_statement")) and function.type == "func_literal":
            continue  # an endless goroutine: time.Tick is fine there (staticcheck SA1015's exception)
        found.append(
            Finding(
                "ticker-not-stopped",
                go.path,
                line(call),
                function_name(function) or "func literal",
                "time.Tick in a function that returns: its ticker can never be stopped",
                "use time.NewTicker with defer ticker.Stop()",
            )
        )
    return found


def lost_cancel(go: GoFile) -> list[Finding]:
    """(3) The cancel of ``context.WithCancel/Timeout/Deadline`` discarded or not used on every path (lostcancel)."""
    found = []
    for statement, names, call in _bindings(go, _CANCELLABLE):
        function = enclosing_function(statement)
        if function is None or len(names) < 2:
            continue
        cancel, what = names[1], callee(call).removeprefix("context.")
        if cancel == "_":
            found.append(
                Finding(
                    "lost-cancel",
                    go.path,
                    line(statement),
                    function_name(function) or "func literal",
                    f"the cancel function returned by {what} is discarded: the context (and its timer) "
                    "lives until its parent ends",
                    "keep it and defer cancel()",
                )
            )
            continue
        uses = [u for u in identifiers(go, cancel, function) if u.start_byte >= statement.end_byte]
        leak_at = _uncovered_exit(go, function, statement, uses)
        if leak_at is not None:
            where = "the end of the function" if leak_at == function else f"the return at line {line(leak_at)}"
            found.append(
                Finding(
                    "lost-cancel",
                    go.path,
                    line(statement),
                    function_name(function) or "func literal",
                    f"{cancel} from {what} is not called on every path: {where} leaks the context",
                    f"defer {cancel}() right after {what}",
                    (Related(line(leak_at) if leak_at != function else line(function), "leaks it"),),
                )
            )
    return found


def _uncovered_exit(go: GoFile, function: Node, start: Node, uses: list[Node]) -> Node | None:
    """The first return after ``start`` that no use of the variable runs before, or ``function`` itself when its
    end is reached without one."""
    for exit_ in go.nodes("return_statement"):
        if (
            owned_by(exit_, function)
            and exit_.start_byte > start.end_byte
            and not any(dominates(u, exit_) for u in uses)
        ):
            return exit_
    block = body(function)
    last = block.named_children[-1] if block is not None and block.named_children else None
    if last is not None and last.type == "statement_list":
        last = last.named_children[-1] if last.named_children else None
    if last is not None and last.type != "return_statement" and not any(_at_top(u, function) for u in uses):
        return function
    return None


def _at_top(use: Node, function: Node) -> bool:
    """``use`` is a statement of the function's own top-level block (runs on every path that gets there)."""
    block = body(function)
    node = use
    while node.parent is not None and node.parent.type not in ("block", "statement_list"):
        node = node.parent
    top = node.parent
    if top is not None and top.type == "statement_list":
        top = top.parent
    return top == block


def context_not_propagated(go: GoFile) -> list[Finding]:
    """(3) A goroutine started in an HTTP handler with ``context.Background()``/``TODO()``: the request's
    cancellation never reaches it (a broken chain)."""
    found = []
    for statement in go.nodes("go_statement"):
        handler = _handler_around(statement)
        if handler is None:
            continue
        for call in go.nodes("call_expression"):
            if inside(call, statement) and callee(call) in ("context.Background", "context.TODO"):
                found.append(
                    Finding(
                        "context-not-propagated",
                        go.path,
                        line(call),
                        function_name(handler) or "handler",
                        f"{callee(call)}() in a goroutine started by a handler: it outlives a cancelled request",
                        "pass r.Context() (context.WithoutCancel(r.Context()) if the work must "
                        "finish after the response, with its own timeout)",
                        (Related(line(statement), "goroutine started here"),),
                    )
                )
    return found


def _handler_around(node: Node) -> Node | None:
    function = enclosing_function(node)
    while function is not None:
        parameters = function.child_by_field_name("parameters")
        if "*http.Request" in text(parameters):
            return function
        function = enclosing_function(function)
    return None


def body_not_closed(go: GoFile) -> list[Finding]:
    """(4) An ``http.Response`` whose Body is not closed on every path (bodyclose's check, syntactically)."""
    if b"net/http" not in go.source:
        return []
    clients = _client_names(go)
    found = []
    for statement, names, call in _bindings(go, _REQUEST_CALLS):
        function = enclosing_function(statement)
        name = callee(call)
        receiver = name.rsplit(".", 1)[0]
        if function is None or not names or names[0] == "_":
            continue
        if not name.startswith("http.") and receiver not in clients:
            continue
        response = names[0]
        if handed_on(go, response, function):
            continue
        closes = [
            u
            for u in identifiers(go, response, function)
            if u.start_byte > statement.end_byte
            and text(u.parent.parent if u.parent else u).startswith(f"{response}.Body.Close")
        ]
        finding = _body_issue(go, function, statement, response, closes)
        if finding is not None:
            found.append(finding)
    return found


def _client_names(go: GoFile) -> set[str]:
    names = {"http.DefaultClient"}
    for kind in ("short_var_declaration", "var_spec", "assignment_statement"):
        for statement in go.nodes(kind):
            for name, value in zip(assigned_names(statement), assigned_values(statement), strict=False):
                if re.match(r"&?http\.Client\{|http\.DefaultClient", text(value)):
                    names.add(name)
    for parameter in (n for n in go.tree.root_node.children if n.type == "function_declaration"):
        for match in re.finditer(r"(\w+) \*http\.Client", text(parameter.child_by_field_name("parameters"))):
            names.add(match.group(1))
    return names


def _body_issue(go: GoFile, function: Node, statement: Node, response: str, closes: list[Node]) -> Finding | None:
    where = function_name(function) or "func literal"
    fix = f"defer {response}.Body.Close() right after the error check"
    if not closes:
        return Finding(
            "body-not-closed",
            go.path,
            line(statement),
            where,
            f"{response}.Body is never closed: the connection (and its two transport goroutines) stays busy for ever",
            fix,
        )
    if any(c.parent is not None and "defer" in text(c.parent.parent.parent if c.parent.parent else c) for c in closes):
        return None
    first = min(c.start_byte for c in closes)
    for exit_ in go.nodes("return_statement"):
        if not owned_by(exit_, function) or not statement.end_byte < exit_.start_byte < first:
            continue
        guard = next((a for a in _ifs_around(exit_, function)), None)
        if guard is not None and re.search(r"\berr\s*!=\s*nil", text(guard.child_by_field_name("condition"))):
            continue  # the error path: there is no body to close
        return Finding(
            "body-not-closed",
            go.path,
            line(statement),
            where,
            f"{response}.Body is not closed on the path returning at line {line(exit_)}",
            fix,
            (Related(line(exit_), "returns with the body open"),),
        )
    return None


def _ifs_around(node: Node, function: Node) -> list[Node]:
    found = []
    parent = node.parent
    while parent is not None and parent != function:
        if parent.type == "if_statement":
            found.append(parent)
        parent = parent.parent
    return found


CHECKS = (ticker_not_stopped, lost_cancel, context_not_propagated, body_not_closed)
