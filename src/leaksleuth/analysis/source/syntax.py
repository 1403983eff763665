"""Go syntax trees for the source patterns: the only module that knows the parser.

Why tree-sitter (``tree-sitter`` + ``tree-sitter-go`` wheels, about 750 KB together, imported in ~10 ms) and not
Go's own ``go/ast``: leaksleuth runs where the profiles are (a laptop, a CI runner, a pod next to the service),
which rarely has the service's Go toolchain, let alone its module cache; ``go/ast`` would need both and a
subprocess per run. tree-sitter parses one file at a time without resolving imports or types, tolerates files that
do not compile (a half-edited checkout still gets its findings), and is a C parser (a 100k-line repository parses in
well under a second). What it cannot tell (types, other packages) the patterns do not claim to know: they look at
one function and its file, like ``go vet``'s syntactic passes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from leaksleuth.errors import ConfigError

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Parser, Tree

FUNCTION_TYPES = frozenset({"function_declaration", "method_declaration", "func_literal"})
# one query over the whole tree (C speed) that every pattern reads from, instead of a Python walk per pattern
_INDEXED = (
    "call_expression",
    "go_statement",
    "defer_statement",
    "send_statement",
    "unary_expression",
    "select_statement",
    "for_statement",
    "return_statement",
    "short_var_declaration",
    "assignment_statement",
    "var_spec",
    "function_declaration",
    "method_declaration",
    "func_literal",
    "comment",
    "field_declaration",
    "if_statement",
)

_BUILTINS = frozenset({"close", "len", "cap", "delete", "clear"})
_HANDED_ON = frozenset(
    {
        "return_statement",
        "argument_list",
        "assignment_statement",
        "short_var_declaration",
        "var_spec",
        "send_statement",
        "keyed_element",
        "literal_element",
    }
)


@cache
def _parser() -> tuple[Language, Parser]:
    try:
        import tree_sitter
        import tree_sitter_go
    except ImportError as exc:  # pragma: no cover - both are base dependencies
        raise ConfigError(
            f"reading Go source needs the tree-sitter Go grammar ({exc})", hint="pip install tree-sitter tree-sitter-go"
        ) from None
    language = tree_sitter.Language(tree_sitter_go.language())
    return language, tree_sitter.Parser(language)


@cache
def _query() -> object:
    import tree_sitter

    language, _ = _parser()
    return tree_sitter.Query(language, " ".join(f"({kind}) @{kind}" for kind in _INDEXED))


@dataclass(slots=True)
class GoFile:
    """One parsed Go file: its tree, and its nodes of the kinds the patterns ask for, in source order."""

    path: str
    source: bytes
    tree: Tree
    index: dict[str, list[Node]] = field(default_factory=dict)

    def nodes(self, kind: str) -> list[Node]:
        return self.index.get(kind, [])

    def lines(self) -> list[str]:
        return self.source.decode("utf-8", "replace").splitlines()


def parse(path: str, source: bytes) -> GoFile:
    """Parse ``source`` (never fails: syntax errors become ERROR nodes the patterns skip over)."""
    import tree_sitter

    _, parser = _parser()
    enclosing_function.cache_clear()  # the last file's nodes are of no use to this one: let its tree go
    callee.cache_clear()
    tree = parser.parse(source)
    query = _query()
    assert isinstance(query, tree_sitter.Query)
    captures = tree_sitter.QueryCursor(query).captures(tree.root_node)
    index = {kind: sorted(nodes, key=lambda n: n.start_byte) for kind, nodes in captures.items()}
    return GoFile(path, source, tree, index)


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def line(node: Node) -> int:
    """1-based line where ``node`` starts."""
    return node.start_point[0] + 1


def inside(node: Node, outer: Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


# The checks ask for the function around a node and a call's callee text over and over (every pattern, every
# candidate pair): memoised by node (tree-sitter nodes hash and compare by tree and position, so a node of another
# tree never answers for this one). Emptied by each parse and bounded, so it holds one file's tree at most.
_MEMO = 16384


@functools.lru_cache(maxsize=_MEMO)
def enclosing_function(node: Node) -> Node | None:
    """The innermost function declaration, method or literal around ``node``."""
    parent = node.parent
    while parent is not None and parent.type not in FUNCTION_TYPES:
        parent = parent.parent
    return parent


def owned_by(node: Node, function: Node) -> bool:
    """``node`` is in ``function``'s own body, not in a function literal nested inside it."""
    return enclosing_function(node) == function


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def body(function: Node) -> Node | None:
    return function.child_by_field_name("body")


def function_name(function: Node) -> str:
    return text(function.child_by_field_name("name")) if function.type != "func_literal" else ""


@functools.lru_cache(maxsize=_MEMO)
def callee(call: Node) -> str:
    """``time.NewTicker`` for ``time.NewTicker(d)``, ``wg.Add`` for ``wg.Add(1)``."""
    return text(call.child_by_field_name("function"))


def arguments(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    return list(args.named_children) if args is not None else []


def go_literal(statement: Node) -> Node | None:
    """The function literal a ``go func() {...}()`` (or ``defer func() {...}()``) statement runs, if any."""
    call = statement.named_children[0] if statement.named_children else None
    if call is None or call.type != "call_expression":
        return None
    function = call.child_by_field_name("function")
    return function if function is not None and function.type == "func_literal" else None


def assigned_names(statement: Node) -> list[str]:
    """Left-hand names of ``a, b := …`` / ``a, b = …`` / ``var a, b = …`` (``_`` kept, in order)."""
    if statement.type == "var_spec":
        return [text(n) for n in statement.children_by_field_name("name")]
    left = statement.child_by_field_name("left")
    return [text(n) for n in left.named_children] if left is not None else []


def assigned_values(statement: Node) -> list[Node]:
    right = statement.child_by_field_name("right") or statement.child_by_field_name("value")
    return list(right.named_children) if right is not None else []


def in_loop(node: Node, stop: Node) -> Node | None:
    """The innermost ``for`` statement around ``node`` below ``stop`` (a function), if any."""
    for parent in ancestors(node):
        if parent == stop or parent.type in FUNCTION_TYPES:
            return None
        if parent.type == "for_statement":
            return parent
    return None


def identifiers(go: GoFile, name: str, region: Node) -> list[Node]:
    """Every use of the identifier ``name`` inside ``region`` (a parse-tree walk: identifiers are not indexed)."""
    found: list[Node] = []
    stack = [region]
    encoded = name.encode()
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            if node.text == encoded:
                found.append(node)
            continue
        if encoded in (node.text or b""):
            stack.extend(node.named_children)
    return sorted(found, key=lambda n: n.start_byte)


def dominates(use: Node, point: Node) -> bool:
    """``use`` runs before ``point`` on every path to it (it comes first in a block that encloses ``point``).

    A syntactic approximation of go vet's control-flow check: a use in a block around the point, before it.
    """
    if inside(use, point):
        return True  # `return ctx, cancel` hands it on
    if use.start_byte >= point.start_byte:
        return False
    statement = use
    parent = statement.parent
    while parent is not None and parent.type not in ("block", "statement_list"):
        if parent.type in FUNCTION_TYPES:
            deferred = _deferring(parent)
            if deferred is None:
                return False
            statement = deferred  # defer func() { cancel() }(): runs at every later return
        else:
            statement = parent
        parent = statement.parent
    block = parent
    return block is not None and inside(point, block)


def _deferring(literal: Node) -> Node | None:
    """The ``defer`` statement that runs ``literal`` (``defer func() {…}()``), if that is what it is."""
    call = literal.parent
    statement = call.parent if call is not None and call.type == "call_expression" else None
    return statement if statement is not None and statement.type == "defer_statement" else None


def handed_on(go: GoFile, name: str, region: Node) -> bool:
    """``name`` itself (not a field of it) is returned, passed on, stored or sent: someone else may release it."""
    for use in identifiers(go, name, region):
        parent = use.parent
        if parent is not None and parent.type == "expression_list":
            parent = parent.parent
            assigning = parent is not None and parent.type in ("assignment_statement", "short_var_declaration")
            if assigning and parent is not None and parent.child_by_field_name("left") == use.parent:
                continue  # assigned to, not handed on
        if parent is None or parent.type not in _HANDED_ON:
            continue
        if parent.type == "send_statement" and parent.child_by_field_name("channel") == use:
            continue  # sending on it, not sending it
        if parent.type == "argument_list" and parent.parent is not None and callee(parent.parent) in _BUILTINS:
            continue
        return True
    return False
