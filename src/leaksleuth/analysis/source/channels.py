"""Channel patterns: a send nobody receives (1), a receive or range nothing ends (5); ``workers.py`` has (6).

Each check is ``GoFile -> list[Finding]`` and looks at one function and its file: a channel made in the function
(``ch := make(chan T)``) is the function's to close; a package-level channel ranged over by workers while some code
sends on it is a process-lifetime pool (never closed on purpose) and is not reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    handed_on,
    in_loop,
    inside,
    line,
    owned_by,
    text,
)

_EARLY_EXIT = re.compile(r"\b(time\.After|\.Done\(\)|time\.Tick|ctx\.|\.C\b)")


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    made_at: Node
    capacity: str | None  # the capacity expression, None for an unbuffered channel


def _made_channel(value: Node) -> tuple[bool, str | None]:
    if value.type != "call_expression" or callee(value) != "make":
        return False, None
    args = arguments(value)
    if not args or args[0].type != "channel_type":
        return False, None
    capacity = text(args[1]) if len(args) > 1 else None
    return True, None if capacity in (None, "0") else capacity


def channels_made(go: GoFile, scope: Node | None) -> dict[str, Channel]:
    """Channels made by ``make(chan …)`` in ``scope``'s own body (``None``: at package level)."""
    made: dict[str, Channel] = {}
    for kind in ("short_var_declaration", "var_spec", "assignment_statement"):
        for statement in go.nodes(kind):
            if enclosing_function(statement) != scope:
                continue
            for name, value in zip(assigned_names(statement), assigned_values(statement), strict=False):
                is_channel, capacity = _made_channel(value)
                if is_channel and name != "_":
                    made.setdefault(name, Channel(name, value, capacity))
    return made


def _functions(go: GoFile) -> list[Node]:
    return [*go.nodes("function_declaration"), *go.nodes("method_declaration"), *go.nodes("func_literal")]


def _sends_on(go: GoFile, name: str, region: Node) -> list[Node]:
    return [
        s for s in go.nodes("send_statement") if inside(s, region) and text(s.child_by_field_name("channel")) == name
    ]


def receives_of(go: GoFile, region: Node) -> list[tuple[str, Node]]:
    """(channel expression, node) for every ``<-ch`` and ``for … range ch`` inside ``region``."""
    found = []
    for unary in go.nodes("unary_expression"):
        if inside(unary, region) and text(unary.child_by_field_name("operator")) == "<-":
            found.append((text(unary.child_by_field_name("operand")), unary))
    for loop in go.nodes("for_statement"):
        clause = loop.named_children[0] if loop.named_children else None
        if inside(loop, region) and clause is not None and clause.type == "range_clause":
            found.append((text(clause.child_by_field_name("right")), loop))
    return found


def _closes(go: GoFile, name: str, region: Node) -> list[Node]:
    return [
        c
        for c in go.nodes("call_expression")
        if inside(c, region) and callee(c) == "close" and [text(a) for a in arguments(c)] == [name]
    ]


def _select_of(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in ("select_statement", "block", "func_literal"):
        parent = parent.parent
    return parent if parent is not None and parent.type == "select_statement" else None


def select_cases(select: Node) -> list[Node]:
    return [c for c in select.named_children if c.type in ("communication_case", "default_case")]


def send_no_receiver(go: GoFile) -> list[Finding]:
    """(1) A goroutine sends on an unbuffered channel whose only receiver is a select that can return early."""
    found = []
    for function in _functions(go):
        for channel in channels_made(go, function).values():
            if channel.capacity is not None:
                continue
            for statement in go.nodes("go_statement"):
                literal = go_literal(statement)
                if literal is None or not owned_by(statement, function):
                    continue
                for send in _sends_on(go, channel.name, literal):
                    if _can_give_up(send):
                        continue
                    early = _early_receiver(go, channel.name, function, literal)
                    if early is not None:
                        found.append(_send_finding(go, function, channel, send, early))
    return found


def _can_give_up(send: Node) -> bool:
    """The send is one case of a select with another way out (``ctx.Done()``, a timeout, ``default``): the sender
    gives up too (LeakProf's select-with-timeout filter)."""
    select = _select_of(send)
    return select is not None and len(select_cases(select)) > 1


def _early_receiver(go: GoFile, name: str, function: Node, literal: Node) -> Node | None:
    """The other case of the select that receives ``name`` outside the goroutine, when it can win instead."""
    for expression, receive in receives_of(go, function):
        if expression != name or inside(receive, literal):
            continue
        select = _select_of(receive)
        if select is None:
            continue
        for case in select_cases(select):
            if case.type == "communication_case" and not inside(receive, case):
                return case
    return None


def _send_finding(go: GoFile, function: Node, channel: Channel, send: Node, early: Node) -> Finding:
    exit_text = text(early.named_children[0]) if early.named_children else text(early)
    reason = _EARLY_EXIT.search(exit_text)
    why = f"returns on {exit_text.removeprefix('<-')}" if reason else f"can take `{exit_text}` instead"
    return Finding(
        "send-no-receiver",
        go.path,
        line(send),
        function_name(function),
        f"send on unbuffered {channel.name} blocks for ever once the receiver at line {line(early)} {why}",
        "make the channel buffered (make(chan …, 1): one slot per sender) so the send completes after the "
        "receiver left",
        (
            Related(line(early), f"the receiver {why}"),
            Related(line(channel.made_at), f"{channel.name} made unbuffered"),
        ),
    )


def _channel_fields(go: GoFile) -> set[str]:
    """Struct field names declared with a channel type in this file (``updates chan int``)."""
    names: set[str] = set()
    for field in go.nodes("field_declaration"):
        kind = field.child_by_field_name("type")
        if kind is not None and kind.type == "channel_type":
            names.update(text(n) for n in field.children_by_field_name("name"))
    return names


def chan_never_closed(go: GoFile) -> list[Finding]:
    """(5) A goroutine waits on a channel (``<-ch``, ``range ch``, a select of only such cases) nothing ends."""
    package_channels = channels_made(go, None)
    fields = _channel_fields(go)
    root = go.tree.root_node
    found = []
    for statement in go.nodes("go_statement"):
        literal = go_literal(statement)
        owner = enclosing_function(statement)
        if literal is None or owner is None:
            continue
        local = channels_made(go, owner)
        locals_ = _local_names(go, owner)
        for expression, waiting in receives_of(go, literal):
            if not owned_by(waiting, literal) or expression.endswith(".C"):
                continue
            root_name = expression.split(".", 1)[0]
            if expression in local or (root_name in locals_ and expression.rsplit(".", 1)[-1] in fields):
                scope = owner
            elif expression in package_channels:
                scope = root
            else:
                continue
            if scope == owner and handed_on(go, root_name, owner):
                continue  # stored or passed on: whoever holds it may close it
            if not _all_cases_dead(go, waiting, literal, scope, expression):
                continue
            issue = _never_ended(go, expression, waiting, statement, literal, scope, owner)
            if issue is not None:
                found.append(issue)
    return found


def _local_names(go: GoFile, function: Node) -> set[str]:
    return {
        name
        for statement in go.nodes("short_var_declaration")
        if owned_by(statement, function)
        for name in assigned_names(statement)
    }


def _all_cases_dead(go: GoFile, waiting: Node, literal: Node, scope: Node, expression: str) -> bool:
    """A receive inside a select only leaks when no other case of it can fire either."""
    select = _select_of(waiting) if waiting.type == "unary_expression" else None
    if select is None:
        return True
    for case in select_cases(select):
        if case.type == "default_case":
            return False
        other = [e for e, node in receives_of(go, case) if node.type == "unary_expression"]
        if not other or any(
            e != expression and (_closes(go, e, scope) or _sends_outside(go, e, scope, literal)) for e in other
        ):
            return False
    return True


def _sends_outside(go: GoFile, name: str, scope: Node, literal: Node) -> list[Node]:
    return [s for s in _sends_on(go, name, scope) if not inside(s, literal)]


def _never_ended(
    go: GoFile, name: str, waiting: Node, statement: Node, literal: Node, scope: Node, owner: Node
) -> Finding | None:
    ranged = waiting.type == "for_statement"
    closes = _closes(go, name, scope)
    what = f"range over {name}" if ranged else f"receive from {name}"
    fix = f"close({name}) on every path (defer close({name}) where it is made) or select on ctx.Done() too"
    if not closes:
        if not ranged and _sends_outside(go, name, scope, literal):
            return None
        if ranged and scope == go.tree.root_node and _sends_outside(go, name, scope, literal):
            return None  # a package-level work queue: a process-lifetime pool
        return Finding(
            "chan-never-closed",
            go.path,
            line(waiting),
            function_name(owner) or "func literal",
            f"{what} waits for ever: no code in {'this file' if scope == go.tree.root_node else 'the function'} "
            f"closes {name}" + ("" if ranged else " or sends on it"),
            fix,
            (Related(line(statement), "goroutine started here"),),
        )
    if any(c.parent is not None and c.parent.type == "defer_statement" for c in closes):
        return None
    first_close = min(c.start_byte for c in closes)
    for exit_ in go.nodes("return_statement"):
        if owned_by(exit_, owner) and statement.end_byte < exit_.start_byte < first_close:
            return Finding(
                "chan-never-closed",
                go.path,
                line(waiting),
                function_name(owner) or "func literal",
                f"{what} waits for ever when the return at line {line(exit_)} skips close({name})",
                fix,
                (
                    Related(line(exit_), f"returns without close({name})"),
                    Related(line(closes[0]), "closed only on this path"),
                ),
            )
    return None


def bounded_send(go: GoFile, at_line: int) -> str | None:
    """Why the send at ``at_line`` cannot block for ever, when the source proves it (else None)."""
    for send in go.nodes("send_statement"):
        if line(send) != at_line:
            continue
        select = _select_of(send)
        if select is not None and any(c.type == "default_case" for c in select_cases(select)):
            return "the send is in a select with a default case: it never blocks"
        name = text(send.child_by_field_name("channel"))
        owner = enclosing_function(send)
        scope = enclosing_function(owner) if owner is not None and owner.type == "func_literal" else owner
        channel = channels_made(go, scope).get(name) if scope is not None else None
        senders = _sender_count(go, name, scope) if channel is not None and scope is not None else None
        capacity = channel.capacity if channel is not None else None
        if capacity is not None and senders is not None and capacity.isdigit() and int(capacity) >= senders:
            return f"{name} is buffered (cap {capacity}) for its {senders} sender(s): no send blocks"
    return None


def _sender_count(go: GoFile, name: str, scope: Node) -> int | None:
    """Goroutines sending on ``name`` started in ``scope``, when none is started in a loop (else unknown)."""
    count = 0
    for statement in go.nodes("go_statement"):
        literal = go_literal(statement)
        if literal is None or not owned_by(statement, scope) or not _sends_on(go, name, literal):
            continue
        if in_loop(statement, scope) is not None:
            return None
        count += 1
    return count


CHECKS = (send_no_receiver, chan_never_closed)
