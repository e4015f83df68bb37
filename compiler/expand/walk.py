"""Stage 3, walking: each layer site of the spec, and of every block it calls, becomes
nodes of the graph, or an alias (a block instance stands for its output; a layer switched
off, or one that could not be expanded, for its input). Names become dotted paths
(`layer1.0.conv1`), the names the torch module's state_dict and the ONNX graph use."""

from __future__ import annotations

from copy import copy
from typing import Any, NamedTuple

from ..diagnostics import Diagnostic, SpecError, Span, did_you_mean
from ..ir import Graph, Node, Scope
from ..ops import REGISTRY, Op
from ..records import Invalid, Record, fields, replace as replaced, validate
from ..source import YList, YMap, span_of
from ..spec import (BlockCall, Document, InitScheme, contains_expression, diagnostics_from, op_spelled,
                    validate_layer)
from . import bind
from .bind import evaluate
from .load import BlockEntry, Namespace
from .problems import Problems, listing
from .resolve import Links
from .shapes import InputTypes, ShapeUnknown, TensorView

_PLAIN = frozenset((bool, int, float))
_SCALARS = frozenset((str, int, float, bool, type(None)))
MAX_BLOCK_DEPTH = 64  # blocks inside blocks: each level costs the walker a few stack frames
MEMO_SIZE = 4096  # verdicts kept: a network has a few hundred distinct layers; a spec of all-distinct ones, no more


class LayerScope(NamedTuple):
    """Where a list of layers is being expanded."""

    prefix: str  # qualified-name prefix: "" or "layer1.0."
    env: dict[str, Any]  # values visible to expressions
    namespace: Namespace
    inputs: dict[str, str]  # local input name -> qualified name
    names: frozenset[str] = frozenset()  # every layer name of this list (forward references are allowed)
    scopes: tuple[Scope, ...] = ()
    trainable: bool = True
    share: tuple[str, str] | None = None  # (this instance's prefix, the shared instance's prefix)
    calls: tuple[str, ...] = ()  # blocks being expanded (a block may not call itself)
    inline: tuple[str, Span, str] | None = None  # an inline call's name, place and namespace (`lib.`): its
    # layers are named as the caller's, and the blocks they call labelled as the caller would name them


class Site(NamedTuple):
    """One layer instance being expanded: what it is, where, and what it reads (a NamedTuple:
    one is made per layer and per repeat copy, at a fifth of a frozen dataclass's cost)."""

    qualified: str
    name: str  # as written
    model: Record  # the validated body: an op's layer model or a BlockCall
    body: YMap
    span: Span  # the layer's name
    inputs: list[str]
    scope: LayerScope
    env: dict[str, Any]  # the scope's, with `i` inside a repeat
    repeat: tuple[int, int] | None = None  # (index, count)


class Walker:
    def __init__(self, graph: Graph, problems: Problems, max_nodes: int, strict: bool = False):
        self.graph, self.problems, self.max_nodes = graph, problems, max_nodes
        self.links = Links()
        self.types = InputTypes(graph, self.links, strict)
        # A layer body's mappings (`relu1: relu` as {op: relu}, `op: $norm` chosen) by the id of what each is
        # made from, held so the id stays its: a block's copies share one, which validate_layer validates once
        self.bodies: dict[tuple[int, str], tuple[YMap, YMap]] = {}  # (entry, layer name) -> body
        self.choices: dict[tuple[int, str], tuple[YMap, YMap]] = {}  # (body, the op or block chosen) -> body
        self.valid: dict[tuple | int, tuple[YMap, Record]] = {}  # body's content or id -> (it, its model)
        self.attributes: dict[tuple, Record] = {}  # (an op's Attrs, values' content) -> the validated record

    def evaluate(self, value: Any, env: dict, container: Any, key: Any) -> tuple[Any, bool]:
        if value is None or type(value) in _PLAIN:  # most `when:`, `trainable:`, `repeat:`: nothing to evaluate
            return value, True
        return evaluate(self.problems, value, env, (container, key))

    # --- lists of layers -------------------------------------------------------------

    def layers(self, raw_layers: YList, scope: LayerScope) -> str | None:
        """Expand a list of layers; returns the qualified name of the last one."""
        seen: dict[str, Span] = {}
        done: set[str] = set()
        duplicates = set()  # (name, span, first) reported: 200,000 aliases of one layer are one mistake, written once
        for entry in raw_layers:
            name = next(iter(entry))
            span, qualified = entry.key_spans[name], scope.prefix + name
            if name in seen or name in scope.inputs:
                first = seen.get(name) or "the inputs"
                if (name, span, first) not in duplicates:
                    duplicates.add((name, span, first))
                    self.problems.error(f"duplicate layer name '{name}'", span, "duplicate-name",
                                        [f"first defined at {first}"])
            elif scope.inline and _inline_clash(self, scope, name, span):
                done.add(name)  # not expanded: it would replace the caller's
            seen.setdefault(name, span)
            self.links.layer_spans.setdefault(qualified, span)
        previous = next(iter(scope.inputs.values()))
        for entry in raw_layers:
            name = next(iter(entry))
            if name in done:
                continue
            done.add(name)
            self.layer(name, entry, scope, previous)
            previous = scope.prefix + name
        return previous

    def layer(self, name: str, entry: YMap, scope: LayerScope, previous: str) -> None:
        qualified = scope.prefix + name
        body = _chosen(self, self.body_of(name, entry, scope), scope.env)
        model, problems = _validated(self, body, name, bool(scope.calls)) if body is not None else (None, [])
        if problems:
            self.problems += problems
        if model is None:
            return self.links.pass_through(qualified, previous)
        try:
            inputs = self.inputs(name, model, body, previous, scope, scope.env)
            self.sites(Site(qualified, name, model, body, entry.key_spans[name], inputs, scope, scope.env))
        except ShapeUnknown as e:  # `repeat:` or `in:` read a shape that an upstream error left unknown
            self.links.pass_through(qualified, e.node)

    def sites(self, site: Site) -> None:
        """The layer's instances: one, or `repeat` of them, each reading the one before."""
        qualified = site.qualified
        repeat, ok = self.evaluate(site.model.repeat, site.env, site.body, "repeat")
        if ok and repeat is not None and not (isinstance(repeat, int) and not isinstance(repeat, bool)
                                              and 1 <= repeat <= 10_000):
            self.problems.error(f"layer '{site.name}': repeat must be an integer from 1 to 10,000, got {repeat!r}",
                                span_of(site.body, "repeat"), "bad-attribute")
            ok = False
        if not ok:
            return self.links.pass_through(qualified, site.inputs[0])
        if repeat is None:
            return self.instance(site)
        for k in range(repeat):
            self.instance(site._replace(qualified=f"{qualified}.{k}", env={**site.env, "i": k}, repeat=(k, repeat),
                                        inputs=site.inputs if k == 0 else [f"{qualified}.{k - 1}"]))
        self.links.pass_through(qualified, f"{qualified}.{repeat - 1}")

    def body_of(self, name: str, entry: YMap, scope: LayerScope) -> YMap | None:
        """The layer's body as a mapping (`- relu1: relu` is `{op: relu}`); None if it names
        neither an op nor a block (reported)."""
        body = entry[name]
        if not isinstance(body, str):
            return body
        made = self.bodies.get((id(entry), name))
        if made is not None:
            return made[1]
        chosen = contains_expression(body)  # `- bn1: $norm` is `{op: $norm}`, the op chosen once evaluated
        if not chosen and body not in REGISTRY and scope.namespace.resolve(body) is None \
                and not scope.namespace.import_failed(body):
            self.problems.error(f"layer '{name}': unknown op or block '{body}'"
                                f"{op_spelled(body) or did_you_mean(body, scope.namespace.all_names())}",
                                entry.value_spans[name], "unknown-op", ["the ops are listed by `nncompile ops`"])
            return None
        mapping = YMap(op=body) if body in REGISTRY or chosen else YMap(block=body)
        mapping.span, mapping.key_spans = entry.key_spans[name], {}
        mapping.value_spans = {"op": entry.value_spans[name], "block": entry.value_spans[name]}
        if scope.calls:  # a block's layers are walked again at its next call; the spec's own, once
            self.bodies[id(entry), name] = entry, mapping
        return mapping

    def inputs(self, name: str, model: Record, body: YMap, previous: str, scope: LayerScope, env: dict) -> list[str]:
        """What the layer reads: its `in:` names, or the previous layer."""
        refs = model.in_
        if refs is None:  # an op that may read nothing (a free parameter) reads nothing unless told
            op = REGISTRY.get(getattr(model, "op", None))
            return [] if op is not None and op.arity[0] == 0 else [previous]
        container, keys = (body["in"], range(len(refs))) if isinstance(refs, list) else (body, ["in"])
        refs = refs if isinstance(refs, list) else [refs]
        if not refs:
            self.problems.error(f"layer '{name}': `in` lists no inputs", span_of(body, "in"), "bad-input")
            return [previous]
        resolved = []
        for ref, key in zip(refs, keys):
            ref, ok = self.evaluate(ref, env, container, key)
            target = self.reference(str(ref), scope, span_of(container, key), name) if ok else None
            resolved.append(target or previous)
        return resolved

    def reference(self, ref: str, scope: LayerScope, span: Span | None, layer: str) -> str | None:
        """A name written in `in:`, `share:` or `outputs:` -> a qualified name."""
        if ref in scope.inputs:
            return scope.inputs[ref]
        if ref.split(".", 1)[0] in scope.names:
            qualified = scope.prefix + ref
            self.links.ref_spans.setdefault(qualified, span)
            return qualified
        choices = sorted(scope.names | set(scope.inputs))
        self.problems.error(f"layer '{layer}': unknown input '{ref}'{did_you_mean(ref, choices)}", span,
                            "unknown-input", [f"names in this scope: {listing(choices)}"])
        return None

    def outputs(self, raw: YMap, outputs, scope: LayerScope, layer: str) -> list[str | None]:
        """The qualified names a list of `outputs:` names (None where one is unknown, reported)."""
        raw_outputs = raw["outputs"] if outputs else None
        return [self.reference(ref, scope, span_of(raw_outputs, i) if isinstance(raw_outputs, YList)
                               else span_of(raw, "outputs"), layer) for i, ref in enumerate(outputs)]

    # --- one layer instance ------------------------------------------------------------

    def instance(self, site: Site) -> None:
        try:
            self.switch(site)
        except ShapeUnknown as e:  # an expression read a shape that an upstream error left unknown
            self.links.pass_through(site.qualified, e.node)

    def switch(self, site: Site) -> None:
        """The instance, unless its `when` switches it off."""
        body = site.body
        when, ok = self.evaluate(site.model.when, site.env, body, "when")
        trainable, ok2 = self.evaluate(site.model.trainable, site.env, body, "trainable")
        if not (ok and ok2):
            return self.links.pass_through(site.qualified, site.inputs[0])
        for key, value in (("when", when), ("trainable", trainable)):
            if not isinstance(value, bool):
                self.problems.error(f"layer '{site.name}': `{key}` must be true or false, got {value!r}",
                                    span_of(body, key), "bad-attribute")
                return self.links.pass_through(site.qualified, site.inputs[0])
        if not when:  # switched off: the layer passes its input through
            return self.links.pass_through(site.qualified, site.inputs[0], switched_off=True)
        share = None
        if site.model.share is not None:
            share = self.reference(site.model.share, site.scope, span_of(body, "share"), site.name)
        elif site.scope.share:
            mine, theirs = site.scope.share
            share = theirs + site.qualified[len(mine):]
        if isinstance(site.model, BlockCall):
            self.block(site, trainable and site.scope.trainable, share)
        else:
            self.op(site, trainable and site.scope.trainable, share)

    def op(self, site: Site, trainable: bool, share: str | None) -> None:
        op, body = REGISTRY[site.model.op], site.body
        values, ok = {}, True
        for key in fields(op.Attrs):
            if key in body:
                values[key], good = self.evaluate(body[key], site.env, body, key)
                ok &= good
        init, good = self.evaluate(site.model.init, site.env, body, "init")
        node = self.add(Node(site.qualified, site.model.op, site.inputs, span=site.span, spans=dict(body.value_spans),
                             scope=site.scope.scopes, trainable=trainable, share=share, init=_init_map(init),
                             doc=site.model.doc))
        if not (ok and good):
            node.error = self.problems[-1]
            return
        try:
            node.attrs = _attributes(self, op, values)
        except Invalid as e:
            found = diagnostics_from(e, body, layer=site.name)
            self.problems += found
            node.error = found[0]
            return
        count = op.outputs(node.attrs)
        if count > 1:
            _split(self, node, count)

    def block(self, site: Site, trainable: bool, share: str | None) -> None:
        call, body, scope = site.model, site.body, site.scope
        entry = scope.namespace.resolve(call.block)
        problem = None if entry is None and scope.namespace.import_failed(call.block) \
            else _call_problem(site, entry)  # (a failed import was reported where it failed)
        if entry is None or problem:
            self.problems += [problem] if problem else []
            return self.links.pass_through(site.qualified, site.inputs[0])
        definition = entry.definition
        views = {local: TensorView(self.types, source, local, site.qualified)
                 for local, source in zip(definition.inputs, site.inputs)}
        block_env = bind.block_params(self.problems, bind.Call(site.name, call, body, entry), site.env, views)
        if block_env is None:
            return self.links.pass_through(site.qualified, site.inputs[0])
        if len(site.inputs) != len(definition.inputs):
            self.problems.error(f"layer '{site.name}': block '{call.block}' takes {len(definition.inputs)} "
                                f"input(s) ({', '.join(definition.inputs)}), given {len(site.inputs)}",
                                span_of(body, "in") or site.span, "block-inputs")
            return self.links.pass_through(site.qualified, site.inputs[0])
        own = site.qualified + "."
        prefix = scope.prefix if call.inline else own  # inline: the layers join the caller's scope
        for local, source in zip(definition.inputs, site.inputs):
            self.links.pass_through(own + local, source)
        scopes, inline = _scopes_within(site, scope, call)
        inner = LayerScope(prefix, block_env, entry.namespace, {n: own + n for n in definition.inputs},
                           _names(entry.raw["layers"]), scopes=scopes,
                           trainable=trainable, share=(prefix, share + ".") if share else None,
                           calls=scope.calls + (entry.qualname,), inline=inline)
        last = self.layers(entry.raw["layers"], inner)
        targets = self.outputs(entry.raw, _as_list(definition.outputs), inner, site.name)
        self.links.pass_through(site.qualified, targets[0] or last if targets else last)

    def add(self, node: Node) -> Node:
        if len(self.graph.nodes) >= self.max_nodes:
            raise SpecError(self.problems + [Diagnostic(f"the network expands to more than {self.max_nodes:,} "
                                                        "layers", node.span, code="too-large")])
        return self.graph.add(node)

    # --- a spec's own layers -------------------------------------------------------------

    def spec(self, doc: Document, raw: YMap, namespace: Namespace) -> None:
        """The spec's layers and its outputs (default: its last layer)."""
        graph = self.graph
        scope = LayerScope("", graph.params, namespace, {n: n for n in doc.inputs}, _names(raw["layers"]))
        last = self.layers(raw["layers"], scope)
        names = _as_list(doc.outputs)
        if not names:
            graph.outputs[last.split(".")[0] if last else ""] = last
        for ref, target in zip(names, self.outputs(raw, names, scope, "outputs")):
            if target and target not in self.links.switched_off:  # an optional output (FCN's aux head) is left out
                graph.outputs[ref] = target


def check_library(namespace: Namespace) -> list[Diagnostic]:
    """A file of blocks alone: each layer's keys and literal values (expressions and shapes
    are checked where a spec calls the block)."""
    found = []
    for entry in namespace.blocks.values():
        for layer in entry.raw["layers"]:
            name, body = next(iter(layer.items()))
            if isinstance(body, dict) and not contains_expression(body.get("op")):  # `op: $norm`: where called
                found += validate_layer(body, name)[1]
    return found


def _call_problem(site: Site, entry: BlockEntry | None) -> Diagnostic | None:
    """Why the block cannot be called here, if it cannot."""
    call, at = site.model, span_of(site.body, "block")
    names = site.scope.namespace.all_names
    if entry is None:
        return Diagnostic(f"layer '{site.name}': unknown block '{call.block}'{did_you_mean(call.block, names())}",
                          at, notes=[f"blocks here: {listing(names())}"], code="unknown-block")
    if entry.qualname in site.scope.calls:
        return Diagnostic(f"block '{call.block}' calls itself", at, code="block-recursion")
    if len(site.scope.calls) >= MAX_BLOCK_DEPTH:
        return Diagnostic(f"blocks are nested more than {MAX_BLOCK_DEPTH} levels deep", at,
                          notes=["a real network nests blocks a few levels deep"], code="too-large")
    return None


def _scopes_within(site: Site, scope: LayerScope, call: BlockCall) -> tuple[tuple[Scope, ...], tuple | None]:
    """The scopes a called block's layers are in (an inline call adds none), and an inline
    call's name, place and namespace. A block called inside an inline one is labelled as the
    inline block's caller would name it (resnet50's layer1 : lib.bottleneck)."""
    named = (scope.inline[2] if scope.inline else "") + call.block
    if call.inline:
        return scope.scopes, (site.name, site.span, named[:named.rfind(".") + 1])
    return scope.scopes + (Scope(site.qualified, named, *(site.repeat or (None, None)), site.span),), None


def _inline_clash(walker: Walker, scope: LayerScope, name: str, span: Span) -> bool:
    """An inline block's layer named as one the caller has already: reported at the call."""
    qualified, first = scope.prefix + name, walker.links.layer_spans.get(scope.prefix + name, span)
    if first == span and qualified not in walker.graph.nodes and qualified not in walker.links.aliases:
        return False
    walker.problems.error(f"layer '{scope.inline[0]}': the inline block's layer '{name}' takes a name already used",
                          scope.inline[1], "duplicate-name",
                          [f"'{name}' is defined at {span}", f"'{qualified}' first defined at {first}"])
    return True


def _chosen(walker: Walker, body: YMap | None, env: dict) -> YMap | None:
    """The body with its `op:` or `block:` evaluated where a parameter chooses it
    (`op: $norm`, as torchvision's norm_layer); None if that failed (reported)."""
    key = None if body is None else "op" if contains_expression(body.get("op")) \
        else "block" if contains_expression(body.get("block")) else None
    if key is None:
        return body
    value, ok = evaluate(walker.problems, body[key], env, (body, key))
    if not ok:
        return None
    made = walker.choices.get((id(body), value)) if isinstance(value, str) else None
    if made is not None:
        return made[1]
    chosen = YMap(body, **{key: value})
    chosen.span, chosen.key_spans, chosen.value_spans = body.span, body.key_spans, body.value_spans
    if isinstance(value, str):
        walker.choices[id(body), value] = body, chosen
    return chosen


def _validated(walker: Walker, body: YMap, name: str, again: bool) -> tuple[Record | None, list[Diagnostic]]:
    """validate_layer's verdict, kept for a body that passes: by its content where its values are
    plain (a chain's 5,000 `{op: linear, out_features: 64}` are validated once), else by its id
    where it will be walked `again` (a block's layers, at every call of the block; the spec's
    own layers are walked once, and keeping theirs would cost memory)."""
    key = _content(body)
    if key is None and again:
        key = id(body)
    known = walker.valid.get(key)
    if known is not None:
        return known[1], []
    model, problems = validate_layer(body, name)
    if model is not None and not problems and key is not None and len(walker.valid) < MEMO_SIZE:
        walker.valid[key] = body, model  # (the body kept, so its id stays its own); the walker never changes a model
    return model, problems


def _attributes(walker: Walker, op: Op, values: dict[str, Any]) -> Record:
    """validate(op.Attrs, values), kept by the values where they are plain (a frozen record:
    nodes may share it); raises Invalid."""
    key = _content(values)
    attrs = walker.attributes.get((op.Attrs, key)) if key is not None else None
    if attrs is None:
        attrs = validate(op.Attrs, values)
        if key is not None and len(walker.attributes) < MEMO_SIZE:
            walker.attributes[op.Attrs, key] = attrs
    return attrs


def _content(mapping: dict) -> tuple | None:
    """A key that two mappings share only if their keys and values are equal and of the same
    types (in Python 1 == 1.0 == True); None unless every value is a string, a number, a
    boolean or null, or if a float is zero (0.0 == -0.0, and a sign would be lost)."""
    values = tuple(mapping.values())
    types = tuple(map(type, values))
    if not _SCALARS.issuperset(types) or float in types and 0.0 in values:
        return None
    return tuple(mapping), values, types, tuple(map(type, mapping))


def _split(walker: Walker, node: Node, count: int) -> None:
    """A node of several outputs as one node per output, `parts.0`, `parts.1`, … (ops/index.py),
    each the node with its attributes' `index` set."""
    del walker.graph.nodes[node.name]
    walker.links.outputs[node.name] = [f"{node.name}.{k}" for k in range(count)]
    for k in range(count):
        part = copy(node)
        part.name, part.attrs = f"{node.name}.{k}", replaced(node.attrs, index=k)
        walker.add(part)


def _init_map(init: Any) -> dict[str, Any]:
    """`init: kaiming` applies to the weight; a mapping names each parameter."""
    if init is None:
        return {}
    if isinstance(init, dict) and "scheme" in init:
        try:  # {scheme: normal, std: 0.02} also reads as a mapping of parameters: it is a scheme
            return {"weight": validate(InitScheme, init)}
        except Invalid:
            pass
    if isinstance(init, dict):
        return dict(init)
    return {"weight": init}


def _names(raw_layers: YList) -> frozenset[str]:
    return frozenset(next(iter(entry)) for entry in raw_layers)


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]
