"""Hypothesis strategies for hostile specs: random YAML, grammar-aware random specs, and
mutations of the shipped specs, on the loaded data (then dumped) and on the raw text."""

from __future__ import annotations

import copy
import yaml
from hypothesis import strategies as st

from nncompile.compiler.ops import REGISTRY
from nncompile.compiler.records import fields

from fuzz_harness import SPECS

# --- values a hostile author (or a broken generator) writes -------------------------

BAD_NUMBERS = [0, -1, -3, 1, 2, 7, 0.5, -0.25, 1e-300, 1e308, float("inf"), -float("inf"),
               2**31, 2**40, 2**63, 10**18, 10**30, 10**200, int("9" * 4000), True, False]
BAD_STRINGS = ["", "12", "3.5", "1e3", "abc", "N", "H", "same", "valid", "nearest", "relu", "x",
               "$", "${", "${}", "$nope", "${9**9**9}", "${2**64}", "${10**18 * 10**18}", "${1/0}",
               "${(-8)**0.5}", "${x.__class__}", "${[1, 2][0]}", "${(lambda: 1)()}", "${__import__('os')}",
               "${open('/etc/passwd')}", "${min()}", "${int('9' * 100)}", "${'a' * 10**9}",
               "${" + "-" * 400 + "1}", "${" + "not " * 100 + "1}", "${" + "(" * 150 + "1" + ")" * 150 + "}",
               "${" + "+".join(["1"] * 200) + "}", "${round(1e18, -10**9)}", "${float('nan')}",
               "${float('inf')}", "${i}", "conv${i + 1}", "ünïcödé", "名前", "a" * 10_000, "\u202e\u0000",
               "../../etc/passwd", "/etc/passwd", "lib/../../../../etc/passwd"]
NAMES = ["x", "input", "image", "fc", "conv1", "layer1", "a.b", "layer1.0", "layer1.0.conv1", "_",
         "Ünïcode", "1abc", "a-b", "a" * 300, "outputs", "N"]


def deep(n: int, leaf=1):
    value = leaf
    for _ in range(n):
        value = [value]
    return value


odd_values = st.one_of(
    st.sampled_from(BAD_NUMBERS),
    st.sampled_from(BAD_STRINGS),
    st.sampled_from(NAMES),
    st.sampled_from([None, [], {}, [[]], [1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9],
                     {"a": 1}, {"op": "relu"}, {"block": "nope"}, {"scheme": "normal", "std": -1}]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.builds(deep, st.integers(1, 150)),
    st.builds(lambda n, v: [v] * n, st.sampled_from([1000, 20_000]), st.sampled_from([1, "x", [1, 2]])),
)

# --- (a) random YAML documents --------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=30), st.sampled_from(BAD_STRINGS))
random_data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(NAMES)),
                                                 inner, max_size=6)), max_leaves=40)


@st.composite
def random_layer(draw):
    name = draw(st.one_of(st.sampled_from(["a", "b", "c", "conv", "fc", "pool"]), st.sampled_from(NAMES)))
    op = draw(st.sampled_from(sorted(REGISTRY)))
    if draw(st.booleans()):
        return {name: op}
    keys_allowed = list(fields(REGISTRY[op].Attrs)) + ["in", "when", "repeat", "share", "init", "trainable"]
    keys = draw(st.lists(st.sampled_from(keys_allowed), max_size=4, unique=True))
    body = {"op": op}
    for key in keys:
        body[key] = draw(st.one_of(st.integers(-3, 300), st.sampled_from([[3, 3], [2, 1], "same", True, 0.5]),
                                   odd_values, st.sampled_from(["a", "b", "c", "x", ["a", "b"], ["x", "c"]])))
    return {name: body}


shapes = st.one_of(
    st.lists(st.one_of(st.integers(1, 64), st.sampled_from(["N", "H", "W", 0, -1, 2**40, 10**20, "$p"])),
             min_size=1, max_size=5),
    st.sampled_from([["N", 3, 32, 32], ["N", 3, "H", "W"], ["N", 8], [1, 3, 7, 7], ["N", 3, 1, 1]]))

spec_shaped = st.fixed_dictionaries(
    {"inputs": st.dictionaries(st.sampled_from(["x", "y", "image"]), shapes, min_size=1, max_size=2),
     "layers": st.lists(random_layer(), min_size=1, max_size=8)},
    optional={"params": st.dictionaries(st.sampled_from(["p", "k", "n", "i"]), odd_values, max_size=3),
              "outputs": st.one_of(st.sampled_from(["a", "b", "x", "nope"]), st.lists(st.sampled_from(["a", "b", "c"]))),
              "name": st.sampled_from(NAMES)})


def dump(data, unicode: bool = True) -> str:
    return yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=unicode, sort_keys=False, width=10**9)


random_documents = st.one_of(
    st.builds(dump, random_data, st.booleans()),
    st.builds(dump, spec_shaped, st.booleans()),
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("[]{}:,-?&*!|>'\"#%@`\n\t ab1.$")), max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")),
    st.binary(max_size=300),  # written as is: not necessarily UTF-8
)

# --- (b) mutations of the shipped specs -------------------------------------------------

_loaded: dict = {}


def shipped(path):
    """(text, data) of a shipped spec, read once."""
    if path not in _loaded:
        text = path.read_text(encoding="utf-8")
        _loaded[path] = text, yaml.safe_load(text)
    return _loaded[path]


def _places(data, depth=0):
    """The (container, key) pairs in the data, for picking where to mutate (not inside
    what an earlier mutation made deep or long)."""
    out = []
    if depth > 20:
        return out
    if isinstance(data, dict):
        for key, value in data.items():
            out.append((data, key))
            out += _places(value, depth + 1)
    elif isinstance(data, list):
        for i, value in enumerate(data[:50]):
            out.append((data, i))
            out += _places(value, depth + 1)
    return out


def _layer_names(data) -> list[str]:
    names = []
    for place, key in _places(data):
        if key == "layers" and isinstance(place[key], list):
            names += [str(next(iter(e))) for e in place[key] if isinstance(e, dict) and e]
    return names or ["nope"]


def _misspell(word: str, draw) -> str:
    i = draw(st.integers(0, max(0, len(word) - 1)))
    edit = draw(st.sampled_from(["drop", "double", "case", "swap"]))
    if edit == "drop":
        return word[:i] + word[i + 1:]
    if edit == "double":
        return word[:i] + word[i:i + 1] * 2 + word[i + 1:]
    if edit == "case":
        return word.upper()
    return word[:i] + word[i + 1:i + 2] + word[i:i + 1] + word[i + 2:]


@st.composite
def mutated_data(draw, data):
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        places = _places(data)
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        names = _layer_names(data)
        kind = draw(st.sampled_from(["delete", "misspell", "value", "value", "reference", "repeat", "import",
                                     "cycle", "wrap", "layer_key"]))
        if kind == "delete":
            del container[key]
        elif kind == "misspell" and isinstance(container, dict) and isinstance(key, str):
            container[_misspell(key, draw)] = container.pop(key)
        elif kind == "reference":
            target = draw(st.one_of(st.sampled_from(names), st.sampled_from(NAMES),
                                    st.builds(lambda n: n + ".nope", st.sampled_from(names))))
            field = draw(st.sampled_from(["in", "share", "outputs"]))
            if isinstance(container[key], dict):
                container[key][field] = target
            else:
                container[key] = target
        elif kind == "cycle" and len(names) >= 2:
            bodies = [e for c, k in _places(data) if k == "layers" and isinstance(c[k], list)
                      for e in c[k] if isinstance(e, dict) and e and isinstance(next(iter(e.values())), dict)]
            if bodies:
                a = draw(st.sampled_from(bodies))
                name = next(iter(a))
                a[name]["in"] = draw(st.sampled_from([name, names[-1], [name, names[0]]]))
        elif kind == "repeat" and isinstance(container[key], dict):
            container[key]["repeat"] = draw(st.sampled_from([0, -1, 1.5, "3", 10**6, 10**12, "${10**9}",
                                                             "$nope", 20, 500] + ([10_000] if _long() else [])))
        elif kind == "import":
            data.setdefault("import", {}) if isinstance(data, dict) else None
            if isinstance(data, dict) and isinstance(data["import"], dict):
                data["import"][draw(st.sampled_from(["lib", "evil", "x"]))] = draw(st.sampled_from(
                    ["../../etc/passwd", "/etc/passwd", "/dev/zero", "/proc/self/environ", "lib/../../../x.yaml",
                     "fuzz_case.yaml", "lib", ".", "", "nope.yaml", "lib/resnet.yaml", 5, None, ["a"]]))
        elif kind == "wrap":
            value = container[key]
            container[key] = draw(st.sampled_from([[value], {"x": value}, [value] * 3, deep(120, value)]))
        elif kind == "layer_key" and isinstance(container[key], dict) and container[key]:
            # a layer renamed to an odd name: unicode, very long, dotted, a duplicate
            old = next(iter(container[key]))
            container[key] = {draw(st.sampled_from(NAMES + names)): container[key][old]}
        else:
            container[key] = copy.deepcopy(draw(odd_values))  # later mutations must not edit the pools
    return data


TAGS = ["!!python/object:os.system", "!!python/name:os.system", "!!python/object/apply:os.system [ls]",
        "!!binary aGVsbG8=", "!!set {a}", "!!omap [a: 1]", "!foo", "!!str", "!!int", "!!float", "!!map", "!!seq",
        "!<tag:yaml.org,2002:python/none>", "!!timestamp", "!!merge"]
BOMB = "bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 9))
SNIPPETS = ["&a", "*a", "*nope", "<<: *a", "<<: 5", "? [a]\n: b", "---", "...", "%YAML 1.1", "\t", "\x00",
            "\ufeff", "\x85", "\u2028", "[" * 200, "{" * 200, "- " * 200, "\"\\ud800\"", "'", "\"", "|", ">", "#",
            "@", "`", "~", "null", "9" * 5000, ".nan", ".inf", "0x1F", "0o17", "1_000", "1:30", "2024-01-01",
            "yes", "on", "=", "&a [*a]"]


@st.composite
def mutated_text(draw, text):
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent", "truncate", "insert",
                                     "tag", "snippet", "bomb", "anchor"]))
        line = lines[i] if lines else ""
        if kind == "delete" and lines:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            lines[i:i + 1] = [" " * draw(st.integers(1, 5)) + line]
        elif kind == "dedent":
            lines[i:i + 1] = [line.lstrip()]
        elif kind == "truncate":
            lines[i:] = [line[:draw(st.integers(0, len(line)))]]
        elif kind in ("insert", "tag", "snippet"):
            col = draw(st.integers(0, len(line)))
            piece = (draw(st.text(max_size=8)) if kind == "insert" else
                     draw(st.sampled_from(TAGS)) + " " if kind == "tag" else draw(st.sampled_from(SNIPPETS)))
            if kind == "tag" and ": " in line:
                col = line.index(": ") + 2
            lines[i:i + 1] = [line[:col] + piece + line[col:]]
        elif kind == "bomb":
            lines.insert(0, BOMB)
        elif kind == "anchor" and ": " in line:
            # the value here becomes an anchor that another line aliases, or refers to itself
            key, _, value = line.partition(": ")
            lines[i:i + 1] = [f"{key}: &a {value}" if draw(st.booleans()) else f"{key}: &a [*a, {value}]"]
            j = draw(st.integers(0, len(lines) - 1))
            if ": " in lines[j] and j != i:
                k, _, _ = lines[j].partition(": ")
                lines[j] = f"{k}: *a"
    return "\n".join(lines)


def _long() -> bool:
    from fuzz_harness import LONG

    return LONG


@st.composite
def spec_mutation(draw):
    """(the shipped spec it came from, the mutated text)."""
    path = draw(st.sampled_from(SPECS))
    text, data = shipped(path)
    how = draw(st.sampled_from(["data", "data", "text", "both"]))
    if how in ("data", "both"):
        text = dump(draw(mutated_data(data)), draw(st.booleans()))
    if how in ("text", "both"):
        text = draw(mutated_text(text))
    return path, text
