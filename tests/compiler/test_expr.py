"""Safe `$param` / `${expression}` evaluation: what it computes, and what it refuses."""

import re

import pytest

from nncompile.compiler.expr import ExprError, evaluate
from torchvision_shim import torchvision_or_skip

ENV = {"k": 3, "c": 64, "i": 1, "ratio": 0.5, "name": "conv", "deep": True}


@pytest.mark.parametrize("text, expected", [
    ("$k", 3),
    ("${k}", 3),
    ("${2 * c + 1}", 129),
    ("${c // 3}", 21),
    ("${c / 4}", 16.0),
    ("${c % 5}", 4),
    ("${2 ** 10}", 1024),
    ("${-k}", -3),
    ("${2 if i == 0 else 1}", 1),
    ("${i == 1 and deep}", True),
    ("${not deep or k > 2}", True),
    ("${1 < k <= 3}", True),
    ("${min(c, 32) + max(1, k)}", 35),
    ("${abs(-k) + int(ratio * 10) + round(2.6)}", 11),
    ("${float(k)}", 3.0),
    ("${ceil(c / 24)}", 3),
    ("${floor(c / 24)}", 2),
    ("${sqrt(c)}", 8.0),
    ("${log2(c)}", 6.0),
    ("${int(log(c, 2))}", 6),
    ("${round(log(1), 6)}", 0),
    ("${int(8 * round(c * 1.5 / 8))}", 96),  # a RegNet-style quantised width
    ("${[k, k]}", [3, 3]),
    ("$name${i + 1}", "conv2"),
    ("layer_$i", "layer_1"),
    ("flag_${deep}", "flag_true"),
    ("no dollar", "no dollar"),
    (7, 7),
])
def test_evaluates(text, expected):
    assert evaluate(text, ENV) == expected


@pytest.mark.parametrize("text, fragment", [
    ("$widht", "unknown parameter 'widht'"),
    ("${__import__('os')}", "not allowed"),
    ("${open('/etc/passwd')}", "not allowed"),
    ("${print(k)}", "not allowed"),
    ("${min(k, key=abs)}", "not allowed"),  # keywords: no way to pass a function in
    ("${k.real}", "not allowed"),  # attribute access
    ("${name[0]}", "not allowed"),  # indexing
    ("${[x for x in name]}", "not allowed"),  # comprehensions
    ("${lambda: 1}", "not allowed"),
    ("${(k := 5)}", "not allowed"),
    ("${k << 3}", "not allowed"),
    ("${2 ** 1000}", "power too large"),
    ("${(2 ** 60) ** 60}", "too large"),
    ("${10 ** 18 * 10}", "too large"),
    ("${k / 0}", "division by zero"),
    ("${1e308 * 10}", "out of range"),
    ("${name + 1}", "arithmetic needs numbers"),
    ("${}", "empty expression"),
    ("${log(0)}", "'log(0)': log needs a positive number, got 0"),
    ("${log2(-c)}", "log2 needs a positive number, got -64"),
    ("${sqrt(-1)}", "'sqrt(-1)': sqrt needs a number ≥ 0, got -1"),
    ("${log(8, 1)}", "division by zero"),
    ("${log(8, -2)}", "math domain error"),
    ("${ceil(name)}", "'ceil(name)'"),
    ("${ceil(c, 2)}", "'ceil(c, 2)'"),
    ("${math.floor(k)}", "not allowed"),  # no module is reachable
    ("${sqrt.__globals__}", "unknown parameter 'sqrt'"),  # a function is no value
    ("${k +}", "invalid expression"),
    ("${" + "1 + " * 200 + "1}", "longer than"),
])
def test_refuses(text, fragment):
    with pytest.raises(ExprError) as caught:
        evaluate(text, ENV)
    assert fragment in str(caught.value)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ExprError) as caught:
        evaluate("${2 * widht}", {"width": 1, "depth": 2})
    assert "did you mean 'width'" in str(caught.value) and "known: depth, width" in str(caught.value)



@pytest.mark.parametrize("text", ["${%s1}" % ("-" * 496), "${%s1%s}" % ("[" * 150, "]" * 150),
                                  "${%sTrue}" % ("not " * 120)])
def test_deep_nesting_is_refused_before_evaluation(text):
    with pytest.raises(ExprError, match=r"^expression nested too deeply \(limit 100\)$"):
        evaluate(text, {})


def test_nesting_up_to_the_limit_evaluates():
    assert evaluate("${%s1}" % ("-" * 98), {}) == 1  # 98 minuses and the constant: 99 levels


# RegNet's width rule (Radosavovic et al. 2020, eq. 2–3), as torchvision's BlockParams writes it
REGNET_WIDTH = "${int(round(w_0 * w_m ** round(log((w_0 + w_a * j) / w_0) / log(w_m)) / 8) * 8)}"


def test_regnets_width_rule_gives_torchvisions_stages():
    """RegNetY-400MF's parameters; its group width, 8, divides every width, so torchvision's
    adjustment for group compatibility changes nothing."""
    torchvision_or_skip()
    from torchvision.models.regnet import BlockParams

    depth, w_0, w_a, w_m = 16, 48, 27.89, 2.09
    widths = [evaluate(REGNET_WIDTH, {"w_0": w_0, "w_a": w_a, "w_m": w_m, "j": j}) for j in range(depth)]
    stages = {w: widths.count(w) for w in widths}  # consecutive blocks of one width form a stage
    theirs = BlockParams.from_init_params(depth=depth, w_0=w_0, w_a=w_a, w_m=w_m, group_width=8)
    assert (list(stages), list(stages.values())) == (theirs.widths, theirs.depths)


# An expression is compiled once per text and cached: the cache must hold no values, no
# errors, and refuse what the tree refuses only where the evaluation reaches it.

@pytest.mark.parametrize("text, first, second", [("${k * 2}", 2, 10), ("$k", 1, 5),
                                                  ("x${k}_${k * 2}", "x1_2", "x5_10")])
def test_a_text_read_again_reads_the_new_values(text, first, second):
    assert (evaluate(text, {"k": 1}), evaluate(text, {"k": 5})) == (first, second)


@pytest.mark.parametrize("text, message", [
    ("${k / z}", "'k / z': division by zero"),
    ("${k +}", "invalid expression 'k +': invalid syntax"),
    ("${widht}", "unknown parameter 'widht'"),
])
def test_an_error_is_raised_each_time_the_text_is_read(text, message):
    for _ in range(2):
        with pytest.raises(ExprError, match=re.escape(message)):
            evaluate(text, {"k": 3, "z": 0})


@pytest.mark.parametrize("text, env, expected", [
    ("${1 if deep else k.real}", {"deep": True, "k": 3}, 1),  # the refused branch is not reached
    ("${0 > 1 in k}", {"k": 3}, False),  # `in` is after a comparison that fails
    ("${deep or 1e999}", {"deep": True}, True),  # a literal out of range, not reached
    ("${deep and widht}", {"deep": False}, False),  # an unknown name, not reached
])
def test_what_evaluation_does_not_reach_is_not_refused(text, env, expected):
    assert evaluate(text, env) == expected


@pytest.mark.parametrize("text, env, message", [
    ("${1 if deep else k.real}", {"deep": False, "k": 3}, "'k.real' is not allowed"),
    ("${1 > 0 in k}", {"k": 3}, "'1 > 0 in k' is not allowed"),
    ("${deep or 1e999}", {"deep": False}, r"number out of range \(inf\)"),
    ("${deep and widht}", {"deep": True}, "unknown parameter 'widht'"),
    ("${widht + k.real}", {"k": 3}, "unknown parameter 'widht'"),  # the left operand is read first
])
def test_what_evaluation_reaches_is_refused(text, env, message):
    with pytest.raises(ExprError, match=message):
        evaluate(text, env)
