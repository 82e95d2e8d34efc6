"""What no database can store or no message can show, found anywhere in a document parsed
from outside (a policy file, a SCIM body, an identity provider's claims), keys included:
NUL characters (PostgreSQL text and jsonb refuse them; SQLite would store them, so refusing
keeps both back ends alike), lone UTF-16 surrogates (not UTF-8), integers past 64 bits, and
documents that contain themselves or expand past MAX_DOCUMENT_NODES (YAML alias bombs).
Each problem is named by its path (`spec.claims.name`, `members[2].value`)."""

from __future__ import annotations

from collections import deque
from typing import Any

# Integers past 64 bits are no count, duration or label anyone means, and Python refuses to
# print those past 4300 digits (which hexadecimal YAML can spell).
_MAX_INT = 2**63


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key if key.isprintable() else ascii(key)
    if isinstance(key, int) and abs(key) < _MAX_INT:
        return str(key)
    return f"<{type(key).__name__}>"


# Anchors and aliases are fine for sharing a value; an "alias bomb" (billion laughs), which
# expands to billions of nodes for any code that walks or prints it, is not.
MAX_DOCUMENT_NODES = 100_000
_CONTAINERS = dict | list | tuple | set | frozenset


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    return list(value)


def _expanded_size(doc: Any) -> int | None:
    """How many nodes `doc` has with every alias expanded (capped just past the limit), or
    None when it contains itself. Iterative depth-first walk, each container costed once."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, _CONTAINERS):
            continue
        nid = id(node)
        if children_done:
            open_.discard(nid)
            size = 1 + sum(sizes.get(id(c), 1) for c in _children(node))
            sizes[nid] = min(size, MAX_DOCUMENT_NODES + 1)
            continue
        if nid in sizes:
            continue
        if nid in open_:  # reached again while walking its own contents
            return None
        open_.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node))
    return sizes.get(id(doc), 1)


def unstorable(doc: Any) -> list[str]:
    """Values anywhere in a (finite) document, keys included, that no database could store
    or no message could show: NUL characters (PostgreSQL text and jsonb refuse them), lone
    UTF-16 surrogates (not UTF-8), integers past 64 bits."""
    size = _expanded_size(doc)
    if size is None:
        return ["document: contains itself (a recursive alias)"]
    if size > MAX_DOCUMENT_NODES:
        return [f"document: more than {MAX_DOCUMENT_NODES} values once its aliases are expanded"]
    found: list[str] = []
    queue: deque[tuple[str, Any]] = deque([("", doc)])

    def check(path: str, value: Any) -> None:
        where = path or "document"
        if isinstance(value, str):
            if "\x00" in value:
                found.append(f"{where}: contains a NUL character (\\x00), which is not allowed")
            elif any("\ud800" <= c <= "\udfff" for c in value):
                found.append(f"{where}: contains a lone surrogate (not valid Unicode text)")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_INT:
            found.append(f"{where}: number too large")

    while queue and len(found) < 20:
        path, value = queue.popleft()
        check(path, value)
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{_key_text(key)}" if path else _key_text(key)
                check(f"{child} (the key)", key)
                queue.append((child, item))
        elif isinstance(value, _CONTAINERS):
            queue.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return found
