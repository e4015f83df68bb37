"""Stage 1, loading: the spec file and, depth first, every file it imports, each parsed,
validated as a Document and given a Namespace of its blocks and its imports' namespaces.
The content hash is taken here, over exactly the bytes read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

try:  # CPython's own SHA-256, the same digest: hashlib's import (OpenSSL) costs ~2.5 ms, 10 times
    # more, and a spec's few KB hash in microseconds either way (a MB: ~3 ms instead of ~0.6)
    from _sha256 import sha256
except ImportError:  # an interpreter without it (named _sha2 from Python 3.12)
    from hashlib import sha256

from ..diagnostics import Diagnostic, SpecError, Span
from ..records import Invalid, validate
from ..source import SourceCache, YMap, load_file, span_of
from ..spec import BlockDef, Document, diagnostics_from
from .. import zoo
from .problems import Problems


class BlockEntry(NamedTuple):  # (NamedTuples and a plain class: a dataclass costs ten times more to declare)
    qualname: str  # "lib/resnet.yaml:basic": unique across files, for the recursion check
    definition: BlockDef
    raw: YMap
    namespace: "Namespace"


class Namespace:
    """A file's blocks, the namespaces of its imports by alias, and the imports that failed."""

    def __init__(self, file: str):
        self.file = file
        self.blocks: dict[str, BlockEntry] = {}
        self.imports: dict[str, Namespace] = {}
        self.broken: set[str] = set()  # imports that failed (already reported)

    def resolve(self, name: str) -> BlockEntry | None:
        ns, parts = self, name.split(".")
        for head in parts[:-1]:
            if head not in ns.imports:
                return None
            ns = ns.imports[head]
        return ns.blocks.get(parts[-1])

    def import_failed(self, name: str) -> bool:
        """Whether a dotted block name reaches into a failed import: calls into it are not
        reported again, so one bad import gives one diagnostic."""
        ns = self
        for head in name.split(".")[:-1]:
            if head in ns.broken:
                return True
            if head not in ns.imports:
                return False
            ns = ns.imports[head]
        return False

    def all_names(self, limit: int = 1000) -> list[str]:
        """Every block name reachable from here (imports depth first), up to limit: a
        lattice of imports reaches the same file by exponentially many paths."""
        names, stack = [], [("", self)]
        while stack and len(names) < limit:
            prefix, ns = stack.pop()
            names += [prefix + n for n in ns.blocks]
            stack += [(f"{prefix}{alias}.", child) for alias, child in reversed(ns.imports.items())]
        return names[:limit]


class LoadedSpec(NamedTuple):
    """What loading hands on: the main document, its raw YAML, its namespace, and the text
    of every file read (for diagnostics)."""

    path: Path  # resolved
    document: Document
    raw: YMap
    namespace: Namespace
    sources: SourceCache
    hash: Any  # a sha256 over every file read

    def fingerprint(self, params: dict[str, Any]) -> str:
        """The spec's identity for `--resume`: its files' content and the params."""
        digest = self.hash.copy()
        digest.update(json.dumps(params, sort_keys=True, default=str).encode())
        return digest.hexdigest()


def display_path(path: Path) -> str:
    """Relative to the working directory when below it, like a compiler's messages."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _names_as_written(data: YMap, sources: SourceCache) -> None:
    """YAML reads `- 0: {op: conv2d}` as the number 0 (and `01` as 1, `no` as false); a
    layer's name is the text as written ("0", as in torchvision's features.0), so that
    validation, the walker and diagnostics see one kind of name, and `01` is refused."""
    blocks = data.get("blocks")
    for body in [data] + (list(blocks.values()) if isinstance(blocks, YMap) else []):
        layers = body.get("layers") if isinstance(body, YMap) else None
        # each entry once: aliases of one layer are one object, renamed at its first use
        for entry in {id(e): e for e in layers}.values() if isinstance(layers, list) else ():
            for key in [k for k in entry if not isinstance(k, str)] if isinstance(entry, YMap) else ():
                span = entry.key_spans[key]
                name = sources.line(span.file, span.line)[span.col - 1:][:span.width]
                entry[name] = entry.pop(key)
                for spans in (entry.key_spans, entry.value_spans):
                    spans[name] = spans.pop(key)


class Loader:
    def __init__(self, path: str | Path, allow_paths, problems: Problems, sources: SourceCache):
        self.path = Path(path).resolve()
        self.roots = [self.path.parent] + [Path(p).resolve() for p in allow_paths]
        self.problems = problems
        self.sources = sources
        self.hash = sha256()
        self.loaded: dict[Path, Namespace] = {}
        self.zoo = zoo.folder().resolve() if zoo.folder() else None

    def load(self) -> LoadedSpec:
        """The main spec and its imports; raises SpecError if the main spec is unusable."""
        loaded = self.read(self.path)
        if loaded is None:
            raise SpecError(self.problems)
        namespace = self.namespaces(self.path, *loaded)
        return LoadedSpec(self.path, *loaded, namespace, self.sources, self.hash)

    def read(self, path: Path) -> tuple[Document, YMap] | None:
        shown = display_path(path)
        data, text = load_file(path, shown)
        self.sources.add(shown, text)
        # the content, and where an import lies relative to the main spec: nothing about the
        # working directory or the path that named the spec, so `--resume` finds it from anywhere
        name = "" if path == self.path else self.relative_name(path)
        self.hash.update(name.encode() + b"\0" + text.encode() + b"\0")
        if not isinstance(data, YMap):
            raise SpecError(Diagnostic("a spec is a mapping (name:, inputs:, layers:, …) at the top level",
                                       getattr(data, "span", Span(shown, 1, 1)), code="not-a-mapping"))
        _names_as_written(data, self.sources)
        try:
            return validate(Document, data), data
        except Invalid as e:
            self.problems += diagnostics_from(e, data)
            return None

    def relative_name(self, path: Path) -> str:
        """An import as the hash knows it: relative to the main spec, or zoo:… for a
        shipped library, wherever the package is installed."""
        if self.in_zoo(path) and not path.is_relative_to(self.roots[0]):
            return zoo.PREFIX + path.relative_to(self.zoo).as_posix()
        return Path(os.path.relpath(path, self.roots[0])).as_posix()

    def in_zoo(self, path: Path) -> bool:
        return self.zoo is not None and path.is_relative_to(self.zoo)

    def namespaces(self, path: Path, doc: Document, raw: YMap) -> Namespace:
        """The namespace of a spec and, depth first, of everything it imports. An explicit
        stack rather than recursion: a chain of imports may be as long as it likes."""
        root = self.loaded[path] = Namespace(display_path(path))
        stack = [(path, doc, raw, root, iter(doc.import_.items()))]
        while stack:
            path, doc, raw, ns, pending = stack[-1]
            alias, relative = next(pending, (None, None))
            if alias is None:
                stack.pop()
                ns.broken = set(doc.import_) - set(ns.imports)
                for name, definition in doc.blocks.items():
                    ns.blocks[name] = BlockEntry(f"{ns.file}:{name}", definition, raw["blocks"][name], ns)
                continue
            target = self.import_target(path, relative, span_of(raw["import"], alias), [s[0] for s in stack])
            if target in self.loaded:
                ns.imports[alias] = self.loaded[target]
            elif target is not None and (loaded := self.read(target)) is not None:
                child = ns.imports[alias] = self.loaded[target] = Namespace(display_path(target))
                stack.append((target, *loaded, child, iter(loaded[0].import_.items())))
        return root

    def import_target(self, path: Path, relative: str, span: Span | None, loading: list[Path]) -> Path | None:
        """The file an import names, or None (reported) if it cannot be imported."""
        error = self.problems.error
        if relative.startswith(zoo.PREFIX):
            target = self.zoo_target(relative, span)
            if target is None:
                return None
            exists = True
        else:
            try:
                target = (path.parent / relative).resolve()
                exists = target.is_file()
            except (OSError, ValueError) as e:  # a name too long for the file system, a NUL byte
                shown = relative if len(relative) <= 60 else relative[:60] + "…"
                error(f"import '{shown}' is not a usable path: {getattr(e, 'strerror', None) or e}", span,
                      "import-missing")
                return None
            # a shipped library may import its neighbours, wherever the spec importing it lies
            roots = self.roots + ([self.zoo] if self.in_zoo(path) else [])
            if not any(target.is_relative_to(root) for root in roots):
                error(f"import '{relative}' is outside the spec's directory tree", span, "import-outside",
                      ["pass --allow-path DIR to allow another directory"])
                return None
        if target in loading:
            chain = " → ".join(display_path(p) for p in loading[loading.index(target):] + [target])
            error(f"circular import: {chain}", span, "import-cycle")
            return None
        if target not in self.loaded and not exists:
            error(f"import '{relative}': no such file ({display_path(target)})", span, "import-missing")
            return None
        return target

    def zoo_target(self, name: str, span: Span | None) -> Path | None:
        """The shipped library `zoo:lib/….yaml` names, or None (reported)."""
        target = zoo.file(name)
        if target is None:
            self.problems.error(f"import '{name}': the zoo ships no such library{zoo.spelled(name, zoo.libraries())}",
                                span, "import-missing", [zoo.shipped_libraries()])
        return target
