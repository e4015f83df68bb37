"""Spec document -> flat IR: imports loaded, params bound, blocks and repeats expanded.

Names become dotted paths (`layer1.0.conv1`), exactly the names the torch module's
state_dict and the ONNX graph will use. Layers that name no input take the previous one;
`in:` may name any layer of the same scope, earlier or later (a later one makes a DAG that
is checked for cycles), the scope's inputs, or a layer inside a block instance
(`stage4.pool`). A block instance's own name stands for its output; a layer whose `when`
is false stands for its input, and is left out of the spec's outputs (an optional head).
Errors are collected, so one run reports every independent mistake.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import expr
from .diagnostics import Diagnostic, SourceCache, SpecError, Span, did_you_mean
from .ir import Graph, Node, Scope, TensorType
from .ops import REGISTRY
from .source import YList, YMap, load_file, load_text, span_of
from .spec import COMMON_KEYS, NAME_PATTERN, BlockCall, BlockDef, Document, diagnostics_from, validate_layer

MAX_NODES = 250_000  # repeats of repeats can multiply: bound the graph
MAX_BLOCK_DEPTH = 64  # blocks inside blocks: each level costs the expander a few stack frames
TYPE_NAMES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": list}


class UsageError(Exception):
    """A mistake in how the command was called (exit 2), not in the spec."""


@dataclass
class BlockEntry:
    qualname: str
    definition: BlockDef
    raw: YMap
    namespace: "Namespace"


@dataclass
class Namespace:
    file: str
    blocks: dict[str, BlockEntry] = field(default_factory=dict)
    imports: dict[str, "Namespace"] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # imports that failed (already reported)

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


@dataclass
class _Scope:
    """Where a list of layers is being expanded."""

    prefix: str  # qualified-name prefix: "" or "layer1.0."
    env: dict[str, Any]  # parameter values visible to expressions
    namespace: Namespace
    inputs: dict[str, str]  # local input name -> qualified name
    names: set[str]  # every layer name of this list (forward references are allowed)
    scopes: tuple[Scope, ...] = ()
    trainable: bool = True
    share: tuple[str, str] | None = None  # (this instance's prefix, the shared instance's prefix)
    calls: tuple[str, ...] = ()  # blocks being expanded (a block may not call itself)


def display_path(path: Path) -> str:
    """Relative to the working directory when below it, like a compiler's messages."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


class Expander:
    def __init__(self, path: str | Path, params: dict[str, str] | None = None,
                 allow_paths: list[str | Path] = ()):
        self.path = Path(path)
        self.overrides = params or {}
        self.roots = [self.path.resolve().parent] + [Path(p).resolve() for p in allow_paths]
        self.sources = SourceCache()
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.aliases: dict[str, str] = {}
        self.switched_off: set[str] = set()  # layers whose `when` is false
        self.ref_spans: dict[str, Span] = {}
        self.layer_spans: dict[str, Span] = {}  # qualified name -> where the layer is defined
        self.hash = hashlib.sha256()
        self.loaded: dict[Path, Namespace] = {}
        self.graph: Graph | None = None

    # --- errors ----------------------------------------------------------------------

    def error(self, message: str, span: Span | None, code: str, notes: list[str] | None = None) -> None:
        self.errors.append(Diagnostic(message, span, notes=notes or [], code=code))

    # --- files and imports -----------------------------------------------------------

    def read(self, path: Path) -> tuple[Document, YMap] | None:
        shown = display_path(path)
        data, text = load_file(path, shown)
        self.sources.add(shown, text)
        # the content, and where an import lies relative to the main spec: nothing about the
        # working directory or the path that named the spec, so `--resume` finds it from anywhere
        name = "" if path == self.path.resolve() else Path(os.path.relpath(path, self.roots[0])).as_posix()
        self.hash.update(name.encode() + b"\0" + text.encode() + b"\0")
        if not isinstance(data, YMap):
            raise SpecError(Diagnostic("a spec is a mapping (name:, inputs:, layers:, …) at the top level",
                                       getattr(data, "span", Span(shown, 1, 1)), code="not-a-mapping"))
        try:
            return Document.model_validate(data), data
        except ValidationError as e:
            self.errors += diagnostics_from(e, data)
            return None

    def namespaces(self, path: Path, doc: Document, raw: YMap) -> Namespace:
        """The namespace of a spec and, depth first, of everything it imports. An explicit
        stack rather than recursion: a chain of imports may be as long as it likes."""
        root = self.open_namespace(path)
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
            target = self.import_target(path, alias, relative, raw, [entry[0] for entry in stack])
            if target in self.loaded:
                ns.imports[alias] = self.loaded[target]
            elif target is not None:
                loaded = self.read(target)
                if loaded is not None:
                    ns.imports[alias] = self.open_namespace(target)
                    stack.append((target, *loaded, ns.imports[alias], iter(loaded[0].import_.items())))
        return root

    def open_namespace(self, path: Path) -> Namespace:
        ns = self.loaded[path] = Namespace(display_path(path))
        return ns

    def import_target(self, path: Path, alias: str, relative: str, raw: YMap, loading: list[Path]) -> Path | None:
        """The file an import names, or None (reported) if it cannot be imported."""
        span = span_of(raw["import"], alias)
        try:
            target = (path.parent / relative).resolve()
            exists = target.is_file()
        except (OSError, ValueError) as e:  # a name too long for the file system, a NUL byte
            shown = relative if len(relative) <= 60 else relative[:60] + "…"
            self.error(f"import '{shown}' is not a usable path: {getattr(e, 'strerror', None) or e}", span,
                       "import-missing")
            return None
        if not any(target.is_relative_to(root) for root in self.roots):
            self.error(f"import '{relative}' is outside the spec's directory tree", span, "import-outside",
                       ["pass --allow-path DIR to allow another directory"])
            return None
        if target in loading:
            chain = " → ".join(display_path(p) for p in loading[loading.index(target):] + [target])
            self.error(f"circular import: {chain}", span, "import-cycle")
            return None
        if target not in self.loaded and not exists:
            self.error(f"import '{relative}': no such file ({display_path(target)})", span, "import-missing")
            return None
        return target

    # --- params and expressions --------------------------------------------------------

    def evaluate(self, value: Any, env: dict, container: Any, key: Any) -> tuple[Any, bool]:
        """Evaluate expressions inside value; (result, ok)."""
        try:
            return _evaluate_deep(value, env), True
        except expr.ExprError as e:
            self.error(str(e), span_of(container, key), "bad-expression")
            return None, False

    def top_params(self, doc: Document, raw: YMap) -> dict[str, Any]:
        unknown = set(self.overrides) - set(doc.params)
        if unknown:
            name = sorted(unknown)[0]
            known = ", ".join(doc.params) or "none"
            raise UsageError(f"--set {name}: the spec has no parameter '{name}'{did_you_mean(name, doc.params)}; "
                             f"its parameters: {known}")
        env: dict[str, Any] = {}
        for name, default in doc.params.items():
            if name in self.overrides:
                text = self.overrides[name]
                try:  # parsed as spec text is: deep nesting, tags and alias bombs are refused
                    value = load_text(text, f"--set {name}")
                except SpecError:
                    value = text
                if not _same_kind(value, default):
                    text = text if len(text) <= 40 else text[:40] + "…"
                    raise UsageError(f"--set {name}={text}: expected {type(default).__name__} like its default "
                                     f"{default!r}")
                env[name] = value
            else:
                env[name], _ = self.evaluate(default, env, raw.get("params"), name)
        return env

    # --- the whole spec ---------------------------------------------------------------

    def run(self) -> Graph:
        path = self.path.resolve()
        loaded = self.read(path)
        if loaded is None:
            raise SpecError(self.errors)
        doc, raw = loaded
        ns = self.namespaces(path, doc, raw)
        shown = display_path(path)
        graph = self.graph = Graph(name=doc.name or path.stem, file=shown, doc=doc.doc)
        graph.params = self.top_params(doc, raw)
        self.hash.update(json.dumps(graph.params, sort_keys=True, default=str).encode())
        if not doc.layers:
            if doc.blocks:  # a block library: check every block, with its parameter defaults
                self.check_library(ns)
                graph.errors, graph.warnings = self.errors, self.warnings
                graph.source_hash = self.hash.hexdigest()
                return graph
            self.error("the spec has no layers", raw.span, "no-layers")
            raise SpecError(self.errors)
        if not doc.inputs:
            self.error("the spec has no inputs: add `inputs: {x: [N, 3, 224, 224]}`", raw.span, "no-inputs")
            raise SpecError(self.errors)
        bad_shape = False
        for name, shape in doc.inputs.items():
            shape, ok = self.evaluate(shape, graph.params, raw["inputs"], name)  # [N, 3, $height, $width]
            if ok and not all(_is_dim(d) for d in shape):
                self.error(f"input '{name}': every dim must be a positive integer or a symbol, got {shape}",
                           span_of(raw["inputs"], name), "bad-shape")
                ok = False
            bad_shape |= not ok
            graph.add(Node(name, "input", span=span_of(raw["inputs"], name, of_key=True),
                           type=TensorType(tuple(shape)) if ok else None))
            graph.inputs.append(name)
        if bad_shape:
            raise SpecError(self.errors)
        scope = _Scope("", graph.params, ns, {n: n for n in doc.inputs}, set())
        last = self.layers(raw["layers"], scope)
        self.outputs(doc, raw, scope, last)
        self.resolve()
        graph.errors, graph.warnings = self.errors, self.warnings
        graph.source_hash = self.hash.hexdigest()
        return graph

    def check_library(self, ns: Namespace) -> None:
        """A file of blocks alone: check each layer's keys and literal values (expressions
        and shapes are checked where a spec calls the block)."""
        for entry in ns.blocks.values():
            for layer in entry.raw["layers"]:
                name, body = next(iter(layer.items()))
                if isinstance(body, dict):
                    self.errors += validate_layer(body, name)[1]

    # --- layers -----------------------------------------------------------------------

    def layers(self, raw_layers: YList, scope: _Scope) -> str | None:
        """Expand a list of layers; returns the qualified name of the last one."""
        seen: dict[str, Span] = {}
        for i, entry in enumerate(raw_layers):
            name = next(iter(entry))
            span = entry.key_spans[name]
            if name in seen or name in scope.inputs:
                first = seen.get(name) or "the inputs"
                self.error(f"duplicate layer name '{name}'", span, "duplicate-name", [f"first defined at {first}"])
            seen.setdefault(name, span)
            self.layer_spans.setdefault(scope.prefix + name, span)
        scope.names = set(seen)
        previous = next(iter(scope.inputs.values()))
        done: set[str] = set()
        for i, entry in enumerate(raw_layers):
            name = next(iter(entry))
            if name in done:
                continue
            done.add(name)
            self.layer(name, entry[name], entry, scope, previous)
            previous = scope.prefix + name
        return previous

    def layer(self, name: str, body: Any, entry: YMap, scope: _Scope, previous: str) -> None:
        qualified = scope.prefix + name
        span = entry.key_spans[name]
        if isinstance(body, str):
            body_map = YMap(op=body) if body in REGISTRY else YMap(block=body)
            body_map.span, body_map.key_spans, body_map.value_spans = span, {}, {"op": entry.value_spans[name],
                                                                               "block": entry.value_spans[name]}
            if body not in REGISTRY and scope.namespace.resolve(body) is None \
                    and not scope.namespace.import_failed(body):
                self.error(f"layer '{name}': unknown op or block '{body}'"
                           f"{did_you_mean(body, list(REGISTRY) + scope.namespace.all_names())}",
                           entry.value_spans[name], "unknown-op", ["the ops are listed by `nncompile ops`"])
                self.aliases[qualified] = previous
                return
            body = body_map
        model, problems = validate_layer(body, name)
        if model is None:
            self.errors += problems
            self.aliases[qualified] = previous
            return
        inputs = self.inputs(model, body, scope, previous, name)
        repeat, ok = self.evaluate(model.repeat, scope.env, body, "repeat")
        if not ok or (repeat is not None and not (isinstance(repeat, int) and not isinstance(repeat, bool)
                                                   and 1 <= repeat <= 10_000)):
            if ok:
                self.error(f"layer '{name}': repeat must be an integer from 1 to 10,000, got {repeat!r}",
                           span_of(body, "repeat"), "bad-attribute")
            self.aliases[qualified] = inputs[0]
            return
        if repeat is None:
            self.instance(qualified, name, model, body, span, inputs, scope, scope.env, None)
            return
        for k in range(repeat):
            instance = f"{qualified}.{k}"
            self.instance(instance, name, model, body, span, inputs if k == 0 else [f"{qualified}.{k - 1}"],
                          scope, {**scope.env, "i": k}, (k, repeat))
        self.aliases[qualified] = f"{qualified}.{repeat - 1}"

    def inputs(self, model: BaseModel, body: YMap, scope: _Scope, previous: str, name: str) -> list[str]:
        refs = model.in_
        if refs is None:
            return [previous]
        container, keys = (body["in"], range(len(refs))) if isinstance(refs, list) else (body, ["in"])
        refs = refs if isinstance(refs, list) else [refs]
        if not refs:
            self.error(f"layer '{name}': `in` lists no inputs", span_of(body, "in"), "bad-input")
            return [previous]
        resolved = []
        for ref, key in zip(refs, keys):
            ref, ok = self.evaluate(ref, scope.env, container, key)
            target = self.reference(str(ref), scope, span_of(container, key), name) if ok else None
            resolved.append(target or previous)
        return resolved

    def reference(self, ref: str, scope: _Scope, span: Span | None, layer: str) -> str | None:
        """A name written in `in:`, `share:` or `outputs:` -> a qualified name."""
        head = ref.split(".", 1)[0]
        if ref in scope.inputs:
            return scope.inputs[ref]
        if head in scope.names:
            qualified = scope.prefix + ref
            self.ref_spans.setdefault(qualified, span)
            return qualified
        choices = sorted(scope.names | set(scope.inputs))
        self.error(f"layer '{layer}': unknown input '{ref}'{did_you_mean(ref, choices)}", span, "unknown-input",
                   [f"names in this scope: {_listing(choices)}"])
        return None

    def instance(self, qualified: str, name: str, model: BaseModel, body: YMap, span: Span, inputs: list[str],
                 scope: _Scope, env: dict, repeat: tuple[int, int] | None) -> None:
        when, ok = self.evaluate(model.when, env, body, "when")
        trainable, ok2 = self.evaluate(model.trainable, env, body, "trainable")
        if not (ok and ok2):
            self.aliases[qualified] = inputs[0]
            return
        for key, value in (("when", when), ("trainable", trainable)):
            if not isinstance(value, bool):
                self.error(f"layer '{name}': `{key}` must be true or false, got {value!r}", span_of(body, key),
                           "bad-attribute")
                self.aliases[qualified] = inputs[0]  # later layers still resolve: one mistake, one error
                return
        if not when:
            self.aliases[qualified] = inputs[0]  # the layer is switched off: it passes its input through
            self.switched_off.add(qualified)
            return
        share = None
        if model.share is not None:
            target = self.reference(model.share, scope, span_of(body, "share"), name)
            share = target
        elif scope.share:
            mine, theirs = scope.share
            share = theirs + qualified[len(mine):]
        if isinstance(model, BlockCall):
            self.block(qualified, name, model, body, span, inputs, scope, env, repeat, trainable, share)
        else:
            self.op(qualified, name, model, body, span, inputs, scope, env, trainable and scope.trainable, share)

    def op(self, qualified: str, name: str, model: BaseModel, body: YMap, span: Span, inputs: list[str],
           scope: _Scope, env: dict, trainable: bool, share: str | None) -> None:
        op = REGISTRY[model.op]
        values, ok = {}, True
        for key in op.Attrs.model_fields:
            if key in body:
                values[key], good = self.evaluate(body[key], env, body, key)
                ok &= good
        init, good = self.evaluate(model.init, env, body, "init")
        node = self.add(Node(qualified, model.op, inputs, span=span, source=body, scope=scope.scopes,
                             trainable=trainable, share=share, init=_init_map(init), doc=model.doc))
        if not (ok and good):
            node.error = self.errors[-1]
            return
        try:
            node.attrs = op.Attrs.model_validate(values)
        except ValidationError as e:
            found = diagnostics_from(e, body, layer=name)
            self.errors += found
            node.error = found[0]

    def block(self, qualified: str, name: str, call: BlockCall, body: YMap, span: Span, inputs: list[str],
              scope: _Scope, env: dict, repeat: tuple[int, int] | None, trainable: bool, share: str | None) -> None:
        entry = scope.namespace.resolve(call.block)
        if entry is None and scope.namespace.import_failed(call.block):
            self.aliases[qualified] = inputs[0]
            return
        if entry is None:
            self.error(f"layer '{name}': unknown block '{call.block}'"
                       f"{did_you_mean(call.block, scope.namespace.all_names())}", span_of(body, "block"),
                       "unknown-block", [f"blocks here: {_listing(scope.namespace.all_names())}"])
            self.aliases[qualified] = inputs[0]
            return
        if entry.qualname in scope.calls:
            self.error(f"block '{call.block}' calls itself", span_of(body, "block"), "block-recursion")
            self.aliases[qualified] = inputs[0]
            return
        if len(scope.calls) >= MAX_BLOCK_DEPTH:
            self.error(f"blocks are nested more than {MAX_BLOCK_DEPTH} levels deep",
                       span_of(body, "block"), "too-large", ["a real network nests blocks a few levels deep"])
            self.aliases[qualified] = inputs[0]
            return
        definition = entry.definition
        block_env = self.bind(call, body, entry, env, name)
        if block_env is None:
            self.aliases[qualified] = inputs[0]
            return
        if len(inputs) != len(definition.inputs):
            self.error(f"layer '{name}': block '{call.block}' takes {len(definition.inputs)} input(s) "
                       f"({', '.join(definition.inputs)}), given {len(inputs)}", span_of(body, "in") or span,
                       "block-inputs")
            self.aliases[qualified] = inputs[0]
            return
        prefix = qualified + "."
        for local, source in zip(definition.inputs, inputs):
            self.aliases[prefix + local] = source
        inner = _Scope(prefix, block_env, entry.namespace, {n: prefix + n for n in definition.inputs}, set(),
                       scope.scopes + (Scope(qualified, call.block, *(repeat or (None, None)), span),),
                       trainable and scope.trainable,
                       (prefix, share + ".") if share else None, scope.calls + (entry.qualname,))
        last = self.layers(entry.raw["layers"], inner)
        outputs = _as_list(definition.outputs)
        if outputs:
            raw_outputs = entry.raw["outputs"]
            targets = [self.reference(o, inner, span_of(raw_outputs, i) if isinstance(raw_outputs, YList)
                                      else span_of(entry.raw, "outputs"), name) for i, o in enumerate(outputs)]
            self.aliases[qualified] = targets[0] or last
        else:
            self.aliases[qualified] = last

    def bind(self, call: BlockCall, body: YMap, entry: BlockEntry, env: dict, name: str) -> dict | None:
        """The block's parameter values: the call's arguments over the defaults."""
        declared = entry.definition.params
        given = dict(call.model_extra or {})
        ok = True
        for key in given:
            if key not in declared:
                self.error(f"layer '{name}': block '{call.block}' has no parameter '{key}'"
                           f"{did_you_mean(key, declared)}", span_of(body, key, of_key=True), "unknown-param",
                           [f"its parameters: {', '.join(declared) or 'none'}"])
                ok = False
        block_env: dict[str, Any] = {}
        for key, default in declared.items():
            required = isinstance(default, str) and default in TYPE_NAMES
            if key in given:
                value, good = self.evaluate(given[key], env, body, key)
                ok &= good
                if good and required and not _is_type(value, default):
                    self.error(f"layer '{name}': parameter '{key}' of block '{call.block}' must be {default}, "
                               f"got {value!r}", span_of(body, key), "bad-param")
                    ok = False
            elif required:
                self.error(f"layer '{name}': block '{call.block}' needs parameter '{key}' ({default})",
                           span_of(body, "block"), "missing-param")
                ok = False
                continue
            else:
                value, good = self.evaluate(default, block_env, entry.raw.get("params"), key)
                ok &= good
            block_env[key] = value
        return block_env if ok else None

    # --- outputs and references ---------------------------------------------------------

    def outputs(self, doc: Document, raw: YMap, scope: _Scope, last: str) -> None:
        names = _as_list(doc.outputs)
        if not names:
            self.graph.outputs[last.split(".")[0] if last else ""] = last
            return
        raw_outputs = raw["outputs"]
        for i, ref in enumerate(names):
            span = span_of(raw_outputs, i) if isinstance(raw_outputs, YList) else span_of(raw, "outputs")
            target = self.reference(ref, scope, span, "outputs")
            if target and target not in self.switched_off:  # an optional output (FCN's aux head) is left out
                self.graph.outputs[ref] = target

    def resolve(self) -> None:
        """Follow aliases so every input, share and output names a node."""
        graph = self.graph

        def follow(name: str, span: Span | None) -> str | None:
            seen = []
            while name not in graph.nodes:
                if name in seen:
                    self.error(f"layers pass their input to each other in a cycle: {' → '.join(seen + [name])}",
                               span, "cycle")
                    return None
                seen.append(name)
                if name not in self.aliases:
                    self.error(f"'{name}' is not a layer", self.ref_spans.get(name, span), "unknown-input")
                    return None
                name = self.aliases[name]
            return name

        for node in list(graph.nodes.values()):
            resolved = [follow(i, node.span) for i in node.inputs]
            if None in resolved:
                node.error = node.error or self.errors[-1]
            node.inputs = [r for r in resolved if r]
            if node.share:
                node.share = follow(node.share, span_of(node.source, "share") or node.span)
        for key, target in list(graph.outputs.items()):
            resolved = follow(target, self.ref_spans.get(target) or self.layer_spans.get(target))
            if resolved:
                graph.outputs[key] = resolved
            else:
                del graph.outputs[key]

    def add(self, node: Node) -> Node:
        if len(self.graph.nodes) >= MAX_NODES:
            raise SpecError(self.errors + [Diagnostic(f"the network expands to more than {MAX_NODES:,} layers",
                                                      node.span, code="too-large")])
        return self.graph.add(node)


def _evaluate_deep(value: Any, env: dict) -> Any:
    if isinstance(value, str):
        return expr.evaluate(value, env)
    if isinstance(value, list):
        return [_evaluate_deep(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _evaluate_deep(v, env) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value
    return value


def _init_map(init: Any) -> dict[str, Any]:
    """`init: kaiming` applies to the weight; a mapping names each parameter."""
    if init is None:
        return {}
    if isinstance(init, dict) and "scheme" not in init:
        return dict(init)
    return {"weight": init}


def _listing(names: list[str], shown: int = 20) -> str:
    """Names for a note, the first `shown` of them: a note fits on a screen."""
    return (", ".join(names[:shown]) + (" …" if len(names) > shown else "")) if names else "none"


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(value, int) or not isinstance(default, int))
    return True


def _is_dim(value: Any) -> bool:
    if isinstance(value, str):
        return re.fullmatch(NAME_PATTERN, value) is not None
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_type(value: Any, type_name: str) -> bool:
    if type_name in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, TYPE_NAMES[type_name])


def expand(path: str | Path, params: dict[str, str] | None = None, allow_paths=()) -> tuple[Graph, SourceCache]:
    expander = Expander(path, params, allow_paths)
    try:
        graph = expander.run()
    except SpecError as e:
        e.sources = expander.sources
        raise
    return graph, expander.sources
