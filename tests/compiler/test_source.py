"""Loading YAML safely, with the position of every key and value."""

import time

import pytest

from nncompile.compiler.diagnostics import SpecError
from nncompile.compiler.source import YList, YMap, load_text, span_at, span_of


def codes(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_text(text, "spec.yaml")
    return [d.code for d in caught.value.diagnostics]


def test_spans_point_at_keys_and_values():
    data = load_text("name: net\nlayers:\n  - conv: {op: conv2d, kernel: 3}\n", "spec.yaml")
    assert isinstance(data, YMap) and isinstance(data["layers"], YList)
    assert str(span_of(data, "layers", of_key=True)) == "spec.yaml:2:1"
    layer = data["layers"][0]
    assert str(span_of(layer, "conv", of_key=True)) == "spec.yaml:3:5"
    kernel = span_of(layer["conv"], "kernel")
    assert (kernel.line, kernel.col, kernel.width) == (3, 32, 1)  # the 3 of `kernel: 3`
    assert str(span_at(data, ("layers", 0, "conv", "op"))) == "spec.yaml:3:16"
    assert str(span_at(data, ("layers", 0, "conv", "missing"))) == str(span_of(layer, "conv"))


SCALARS_IN_EVERY_ROLE = """\
a: a
b: [a, 'a', 1, "1", true, 'true', null, ~, 1e-6, 0x1f, a]
c: {a: 1, b: a, 1: b, x: 1, ab: ab}
d: &anchor a
e: *anchor
f: {<<: {a: 1, z: 2}, z: 3}
g:
  - {a: a, '1': 1}
  - a
  - [a, [a, 1]]
"""


def test_values_and_spans_agree_with_pyyaml_whatever_role_a_scalar_plays():
    """A text repeated as key, value, list item, quoted, anchored and merged: the values PyYAML
    builds, and every span where PyYAML's node for it starts and ends (the composer reads a
    plain scalar's value once and takes it from there after)."""
    import yaml

    from nncompile.compiler.source import _Loader, node_span

    data = load_text(SCALARS_IN_EVERY_ROLE, "s.yaml")
    assert data == yaml.load(SCALARS_IN_EVERY_ROLE, Loader=_Loader)
    assert type(data["b"][2]) is int and type(data["b"][3]) is str and type(data["b"][8]) is float

    def same_spans(ours, node):
        assert ours.span == node_span("s.yaml", node)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = next(k for k in ours if ours.key_spans[k] == node_span("s.yaml", key_node))
                assert ours.value_spans[key] == node_span("s.yaml", value_node)
                if isinstance(value_node, yaml.CollectionNode):
                    same_spans(ours[key], value_node)
        elif isinstance(node, yaml.SequenceNode):
            assert ours.value_spans == [node_span("s.yaml", item) for item in node.value]
            for item, item_node in zip(ours, node.value):
                if isinstance(item_node, yaml.CollectionNode):
                    same_spans(item, item_node)

    same_spans(data, yaml.compose(SCALARS_IN_EVERY_ROLE, Loader=_Loader))


def test_plain_scalars_read_as_pyyaml_reads_them_whatever_their_first_character():
    """The composer skips the resolvers for a text whose first character begins none of them."""
    import string

    import yaml

    from nncompile.compiler.source import _Loader

    texts = [first + rest for first in string.ascii_letters + string.digits + "._/$~<=+"
             for rest in ["", "1", "0", "rue", "alse", "ull", "o", "es", "ff", "e5", ".5", "x10", "2024-01-01"]]
    text = "".join(f"k{i}: {t}\n" for i, t in enumerate(texts) if t != "=")  # `=`: the value tag, refused
    assert load_text(text, "s.yaml") == yaml.load(text, Loader=_Loader)


def test_plain_data_only():
    data = load_text("a: 1\nb: 2.5\nc: true\nd: ~\ne: [x, 'y']\nf: 2024-01-01\n", "s.yaml")
    assert data == {"a": 1, "b": 2.5, "c": True, "d": None, "e": ["x", "y"], "f": "2024-01-01"}


def test_exponents_without_a_point_are_numbers_as_in_yaml_1_2():
    data = load_text("eps: 1e-6\nlr: 3E-4\nbig: 2e5\nplain: 1.5e3\nnot: 1e\nquoted: '1e-6'\n", "s.yaml")
    assert data == {"eps": 1e-6, "lr": 3e-4, "big": 2e5, "plain": 1.5e3, "not": "1e", "quoted": "1e-6"}


@pytest.mark.parametrize("text", [
    "x: !!python/object:os.system {}",
    "x: !!python/object/apply:os.system ['ls']",
    "x: !!python/name:os.system",
    "x: !custom 3",
    "x: !!binary aGVsbG8=",
    "x: !!set {a, b}",
])
def test_tags_are_refused(text):
    assert codes(text) == ["yaml-tag"]


def test_duplicate_key_names_the_first():
    with pytest.raises(SpecError) as caught:
        load_text("layers: []\nname: a\nname: b\n", "s.yaml")
    d = caught.value.diagnostics[0]
    assert d.code == "duplicate-key" and (d.span.line, d.span.col) == (3, 1)
    assert d.notes == ["first given at s.yaml:2:1"]


def test_alias_bomb_is_refused_quickly():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.perf_counter()
    assert codes("\n".join(levels)) == ["yaml-too-large"]
    assert time.perf_counter() - started < 5


def test_recursive_alias_is_refused():
    assert codes("a: &a [1, *a]") == ["yaml-recursive-alias"]


def test_small_aliases_are_fine():
    data = load_text("base: &b {kernel: 3, padding: 1}\nconv: {<<: *b, kernel: 5}\n", "s.yaml")
    assert data["conv"] == {"kernel": 5, "padding": 1}


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    assert codes("x: " + "[" * 50_000 + "]" * 50_000) == ["yaml-too-large"]


@pytest.mark.parametrize("depth, refused", [(99, False), (100, True)])
def test_a_scalar_counts_as_a_level_of_nesting(depth, refused):
    text = "[" * depth + "1" + "]" * depth
    if refused:
        assert codes(text) == ["yaml-too-large"]
    else:
        assert str(load_text(text, "s.yaml").span) == "s.yaml:1:1"


@pytest.mark.parametrize("text, where, width", [
    ("a: &a [[[*a]]] # x\n", "s.yaml:1:4", len("&a [[[*a]]]")),
    ("a:\n  - &a {b: [c, {d: *a}]}\n  - x\n", "s.yaml:2:5", len("&a {b: [c, {d: *a}]}")),
])
def test_a_cycle_is_shown_as_the_whole_node_it_names(text, where, width):
    """The node is read to its end however deep inside it the alias was found."""
    with pytest.raises(SpecError) as caught:
        load_text(text, "s.yaml")
    (d,) = caught.value.diagnostics
    assert (d.code, str(d.span), d.span.width) == ("yaml-recursive-alias", where, width)


@pytest.mark.parametrize("text, code", [
    ("a: [1, 2\nb: 3\n", "yaml-syntax"),
    ("a: .nan\n", "bad-number"),
    ("~: 1\n", "yaml-key"),
    ("[a, b]: 1\n", "yaml-key"),
])
def test_other_refusals(text, code):
    assert codes(text) == [code]


def test_syntax_error_says_where_the_construct_began():
    with pytest.raises(SpecError) as caught:
        load_text("a: [1, 2\nb: 3\n", "s.yaml")
    d = caught.value.diagnostics[0]
    assert (d.span.line, d.notes) == (2, ["while parsing a flow sequence at s.yaml:1:4"])


def test_empty_document_is_an_empty_mapping():
    assert load_text("", "s.yaml") == {} and load_text("# only a comment\n", "s.yaml") == {}


def test_a_null_document_is_none_not_an_empty_mapping():
    assert load_text("null\n", "s.yaml") is None and load_text("--- 3\n", "s.yaml") == 3


def test_yaml_is_parsed_once_by_libyaml(monkeypatch):
    """No pure-Python tokenising pass, however many brackets the text holds (issue 16)."""
    import yaml

    monkeypatch.setattr(yaml.scanner.Scanner, "fetch_more_tokens", lambda self: pytest.fail("Python scanner used"))
    text = "layers:\n" + "".join(f"  - fc{i}: {{op: linear, out_features: [{i}, {{a: [b]}}]}}\n" for i in range(3_000))
    assert load_text(text, "s.yaml")["layers"][2_999]["fc2999"]["out_features"] == [2_999, {"a": ["b"]}]


@pytest.mark.parametrize("text", ["[" * 100_000, "a: " + "{b: " * 100_000, "- " * 100_000 + "x"])
def test_deep_nesting_is_refused_at_the_limit_without_reading_on(text):
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        load_text(text, "s.yaml")
    assert time.perf_counter() - started < 1
    (d,) = caught.value.diagnostics
    assert d.code == "yaml-too-large" and "nested more than 100 levels" in d.message


def test_nesting_through_aliases_counts():
    inner = "a: &a " + "[" * 60 + "]" * 60 + "\n"
    assert load_text(inner + "b: " + "[" * 30 + "*a" + "]" * 30 + "\n", "s.yaml")
    assert codes(inner + "b: " + "[" * 45 + "*a" + "]" * 45 + "\n") == ["yaml-too-large"]


def test_an_alias_is_the_anchored_value_with_its_spans():
    """Shared, not copied: 200,000 aliases of a layer cost one layer's memory."""
    data = load_text("a: &x {k: [1]}\nb: *x\n", "s.yaml")
    assert data["b"] is data["a"] and data["b"].value_spans["k"] is data["a"].value_spans["k"]
    assert str(span_of(data, "b")) == "s.yaml:1:4" and str(span_of(data["b"], "k", of_key=True)) == "s.yaml:1:8"


def test_a_large_flat_document_is_refused_at_the_list_that_overflows(monkeypatch):
    from nncompile.compiler import source

    monkeypatch.setattr(source, "MAX_NODES", 1_000)
    with pytest.raises(SpecError) as caught:
        load_text("name: x\nlayers:\n" + "- {a: relu}\n" * 400, "s.yaml")
    (d,) = caught.value.diagnostics
    assert (d.code, d.span.line, d.span.col) == ("yaml-too-large", 3, 1)


@pytest.mark.parametrize("text, message", [
    ("a: *nope\n", "YAML syntax: found undefined alias '*nope'"),
    ("a: &x 1\nb: &x 2\n", "YAML syntax: second occurrence"),
    ("a: 1\n---\nb: 2\n", "YAML syntax: but found another document"),
    ("a: !!set {x}\n", "unsupported YAML tag '!!set'"),
    ("{[a]: 1}\n", "a mapping key must be a plain scalar"),
    ("a: &k [1]\n*k : 2\n", "a mapping key must be a plain scalar"),
])
def test_composer_refusals_are_located(text, message):
    with pytest.raises(SpecError) as caught:
        load_text(text, "s.yaml")
    (d,) = caught.value.diagnostics
    assert d.message == message and d.span.line >= 1


def test_files_that_are_not_regular_are_refused_before_reading(tmp_path):
    import os

    from nncompile.compiler.source import load_file

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, says in [(tmp_path, "is a directory"), (fifo, "is not a regular file"), (tmp_path / "no", "cannot read")]:
        with pytest.raises(SpecError) as caught:
            load_file(path, "shown.yaml")
        (d,) = caught.value.diagnostics
        assert (d.code, str(d.span)) == ("no-file", "shown.yaml:1:1") and says in d.message


# --- a text too many events long is refused before a value is built ---------------------------

def _events(text: str) -> int:
    """libyaml's own count of the whole text, the truth the budget is held to."""
    import yaml

    parser = yaml.CSafeLoader(text)
    try:
        return parser.raw_parse()
    finally:
        parser.dispose()


def _refused_unbuilt(text: str, monkeypatch):
    from nncompile.compiler import source

    def built(*args):
        raise AssertionError("a value was built")

    monkeypatch.setattr(source._Composer, "node", built)
    with pytest.raises(SpecError) as caught:
        load_text(text, "s.yaml")
    (d,) = caught.value.diagnostics
    assert d.code == "yaml-too-large" and d.message.startswith("the document is more than 1,000,000 YAML events long")
    return d


def test_a_flat_file_of_300000_layers_is_refused_where_its_events_pass_the_limit(monkeypatch):
    text = "inputs: {x: [N, 3]}\nlayers:\n" + "".join(f"  - a{i}: relu\n" for i in range(300_000))
    d = _refused_unbuilt(text, monkeypatch)
    count = int(d.message.split(": ")[1].split()[0].replace(",", ""))
    line = text.splitlines()[d.span.line - 1]
    assert 1_000_000 < count <= _events("\n".join(text.splitlines()[:d.span.line]))  # what is above holds as many
    assert line.startswith("  - a") and d.span.col == len(line) + 1


def test_a_one_line_flow_list_is_refused_at_the_column_its_events_pass_the_limit(monkeypatch):
    text = "inputs: {x: [N, 3]}\nlayers: [" + ", ".join(["{a: relu}"] * 400_000) + "]\n"
    d = _refused_unbuilt(text, monkeypatch)
    assert d.span.line == 2 and text.splitlines()[1][d.span.col - 1] == ","  # cut between two layers


@pytest.mark.parametrize("shape", [
    lambda i: f"- {{a{i}: [1, {{b: [2, 3]}}], c: 'x, y'}}\n",  # flow inside block, commas quoted
    lambda i: f"- a{i}: {{k: v}}  # a comment, with commas, ]\n",
    lambda i: f"- |\n  text, [with {{brackets\n- k{i}: v\n",  # block scalars
    lambda i: f"- \"a, b\n  c\"\n",  # a quoted scalar across the cut
    lambda i: "[" * (i == 0) + "{a: [1, 'x, y']}, ",  # one flow list, commas quoted (closed below)
])
def test_a_prefix_count_never_says_more_than_the_whole_text_holds(shape):
    from nncompile.compiler import yaml_events
    from nncompile.compiler.source import _Loader

    text = "".join(shape(i) for i in range(20_000))
    text += "x]\n" * text.startswith("[")
    count, end = yaml_events.at_least(text, 10_000, _Loader)
    assert 10_000 < count <= _events(text)
    if end < len(text):  # counted in a prefix: no more than the prefix holds (its flow list closed)
        assert count <= _events(text[:end] + "]" * text.startswith("["))


def test_the_event_limit_is_exact(monkeypatch):
    from nncompile.compiler import yaml_events

    monkeypatch.setattr(yaml_events, "MAX_EVENTS", 1_000)
    monkeypatch.setattr(yaml_events, "_COUNTED_FROM", 0)
    under = "[" + ", ".join(["a"] * 995) + "]\n"  # stream, document and list: 6 events more
    assert _events(under) == 1_001 and _events(under[:-3] + "]\n") == 1_000
    assert len(load_text(under[:-3] + "]\n", "s.yaml")) == 994
    with pytest.raises(SpecError) as caught:
        load_text(under, "s.yaml")
    assert caught.value.diagnostics[0].message.startswith("the document is more than 1,000 YAML events long: 1,001 (")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028"])
def test_quoted_lines_are_the_lines_yaml_numbers(newline):
    from nncompile.compiler.source import SourceCache

    text = newline.join(["a: 1", "b: [2,", "  3]", "c: {d: 4}", ""])
    data, cache = load_text(text, "s.yaml"), SourceCache()
    cache.add("s.yaml", text)
    assert cache.line("s.yaml", span_of(data, "c").line) == "c: {d: 4}"
    assert cache.line("s.yaml", span_of(data["b"], 1).line) == "  3]"
