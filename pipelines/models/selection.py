"""Which models and audits a command works on: dbt's node selectors, over the models' graph.

Why dbt's grammar: the engineers who run apptsync already type it. A selector is
`name` or `schema.name` (one model or audit), `schema.*` (every model of a schema;
`audits.*` every audit) or `*`, with `+` before it for everything it reads, upstream, and
`+` after it for everything that reads it, downstream. Several selectors are a union;
`exclude` takes the same selectors and removes what they match.

An audit is selected when it is named, or when a model it reads is selected (dbt's "eager"
indirect selection of tests), unless excluded.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.models.discovery import AUDITS_DIR, Audit, Model, ModelError
from pipelines.ops.exit_codes import ExitCode

ALL = "*"
UPSTREAM = DOWNSTREAM = "+"


class SelectionError(ModelError):
    """A selector that matches nothing, or is not in the grammar: a usage error (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Selection:
    """The selected models, in build order, and the selected audits, by name."""

    models: tuple[Model, ...]
    audits: tuple[Audit, ...]

    @property
    def model_names(self) -> list[str]:
        return [model.qualified_name for model in self.models]


def selectors(values: Iterable[str] | str | None) -> list[str]:
    """Selectors as given on a command line: `--select "a b" --select c` -> [a, b, c]."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [part for value in values for part in value.split()]


def select(
    models: Sequence[Model],
    audits: Sequence[Audit] = (),
    select: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
) -> Selection:
    """The models (in the order given, which is build order) and audits the selectors pick;
    no `select` means everything. Raises `SelectionError` for a selector matching nothing."""
    graph = _Graph(models, audits)
    chosen = selectors(select)
    picked = set().union(*(graph.match(s) for s in chosen)) if chosen else graph.everything()
    dropped = set().union(*(graph.match(s) for s in selectors(exclude)))
    kept_models = [m for m in models if m.qualified_name in picked - dropped]
    kept = {m.qualified_name for m in kept_models}
    kept_audits = [
        audit
        for audit in audits
        if _audit_key(audit) not in dropped
        and (_audit_key(audit) in picked or any(name in kept for name in audit.depends_on))
    ]
    return Selection(tuple(kept_models), tuple(kept_audits))


def select_models(
    models: Sequence[Model],
    select_: Iterable[str] | str | None,
    exclude: Iterable[str] | str | None = None,
) -> list[Model]:
    """Only the models of `select(...)`, in build order."""
    return list(select(models, (), select_, exclude).models)


def upstream(models: Sequence[Model], names: Iterable[str]) -> set[str]:
    """Every model the named models read, directly or not (the named ones not included)."""
    by_name = {model.qualified_name: model for model in models}
    found: set[str] = set()
    stack = [dep for name in names for dep in by_name[name].depends_on]
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(by_name[name].depends_on)
    return found


def _audit_key(audit: Audit) -> str:
    return f"{AUDITS_DIR}.{audit.name}"


class _Graph:
    """Models and audits by qualified name (`audits.<name>` for an audit), with the edges."""

    def __init__(self, models: Sequence[Model], audits: Sequence[Audit]) -> None:
        self.models = list(models)
        self.reads = {m.qualified_name: set(m.depends_on) for m in models}
        self.reads.update({_audit_key(a): set(a.depends_on) for a in audits})
        self.read_by: dict[str, set[str]] = {name: set() for name in self.reads}
        for name, deps in self.reads.items():
            for dep in deps:
                self.read_by.setdefault(dep, set()).add(name)
        self.short: dict[str, set[str]] = {}
        for name in self.reads:
            self.short.setdefault(name.split(".", 1)[1], set()).add(name)
        self.schemas = {name.split(".", 1)[0] for name in self.reads} | {AUDITS_DIR}

    def everything(self) -> set[str]:
        return set(self.reads)

    def match(self, selector: str) -> set[str]:
        """The nodes one selector names, with their upstream or downstream when asked."""
        core = selector.lower()
        with_upstream = core.startswith(UPSTREAM)
        with_downstream = core.endswith(DOWNSTREAM) and len(core) > 1
        core = core.removeprefix(UPSTREAM) if with_upstream else core
        core = core.removesuffix(DOWNSTREAM) if with_downstream else core
        nodes = self._core(core, selector)
        found = set(nodes)
        if with_upstream:
            found |= self._walk(nodes, self.reads)
        if with_downstream:
            found |= self._walk(nodes, self.read_by)
        return found

    def _core(self, core: str, selector: str) -> set[str]:
        if core == ALL:
            return self.everything()
        if not core or "+" in core or "," in core:
            raise SelectionError(
                f"selector {selector!r} is not one of name, schema.name, schema.*, +name, "
                "name+ (several selectors: separate them with spaces)"
            )
        schema, dot, name = core.rpartition(".")
        if dot and name == ALL:
            found = {n for n in self.reads if n.split(".", 1)[0] == schema}
            if not found:
                close = [f"{s}.*" for s in _close(schema, sorted(self.schemas))]
                raise SelectionError(self._unknown(selector, close))
            return found
        if dot:
            if core not in self.reads:
                raise SelectionError(self._unknown(selector, _close(core, sorted(self.reads))))
            return {core}
        found = self.short.get(core, set())
        if len(found) > 1:
            names = ", ".join(sorted(found))
            raise SelectionError(
                f"{selector!r} names more than one model ({names}): use schema.name"
            )
        if not found:
            close = [q for short in _close(core, sorted(self.short)) for q in self.short[short]]
            raise SelectionError(self._unknown(selector, sorted(close)))
        return found

    @staticmethod
    def _walk(start: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
        found: set[str] = set()
        stack = [nxt for node in start for nxt in edges.get(node, ())]
        while stack:
            node = stack.pop()
            if node not in found:
                found.add(node)
                stack.extend(edges.get(node, ()))
        return found

    def _unknown(self, selector: str, close: Sequence[str]) -> str:
        kinds = (
            "model or audit" if any(n.startswith(f"{AUDITS_DIR}.") for n in self.reads) else "model"
        )
        hint = f"; did you mean {' or '.join(close)}?" if close else " (apptsync ls lists them)"
        return f"no {kinds} matches {selector!r}{hint}"


def _close(word: str, candidates: Sequence[str]) -> list[str]:
    """The candidates most like `word` (a typo, or the start of a long name): those nearly as
    close as the closest, so a typo gets its model, not every model sharing a prefix."""

    def score(candidate: str) -> float:
        whole = difflib.SequenceMatcher(None, word, candidate).ratio()
        start = difflib.SequenceMatcher(None, word, candidate[: len(word)]).ratio()
        return max(whole, start)

    scored = sorted(((score(c), c) for c in candidates), key=lambda item: (-item[0], item[1]))
    best = scored[0][0] if scored else 0.0
    return [c for ratio, c in scored[:3] if ratio >= max(0.75, best - 0.05)]
