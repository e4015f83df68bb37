"""The IR's data-flow order against networkx's: the spec's order where data flow leaves a
choice, whether the spec is written in data-flow order (taken as it is) or not (sorted)."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncompile.compiler.ir import INPUT, Graph, Node, Scope, TensorType


@st.composite
def graphs(draw, forward_only: bool = False) -> Graph:
    """Up to 10 nodes, each reading up to 3 others (earlier ones only, if forward_only) or a
    name no node has, which the order ignores."""
    size = draw(st.integers(min_value=1, max_value=10))
    graph = Graph("g", "g.yaml")
    for i in range(size):
        sources = st.sampled_from([f"n{j}" for j in range(i if forward_only else size)] + ["missing"])
        graph.add(Node(f"n{i}", "relu", draw(st.lists(sources, max_size=3)) if i or not forward_only else []))
    return graph


def networkx_order(graph: Graph) -> list[str]:
    """Kahn's order taking the first ready node in the spec, by networkx (NetworkXUnfeasible on a cycle)."""
    position = {name: i for i, name in enumerate(graph.nodes)}
    return list(nx.lexicographical_topological_sort(graph.to_networkx(), key=position.__getitem__))


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_the_order_is_networkx_s_and_a_cycle_is_named(graph):
    try:
        expected = networkx_order(graph)
    except nx.NetworkXUnfeasible:
        with pytest.raises(ValueError) as caught:
            graph.topological()
        cycle = caught.value.args[0]
        assert all(graph.nodes[cycle[i - 1]].name in graph.nodes[cycle[i]].inputs for i in range(len(cycle)))
        return
    assert [n.name for n in graph.topological()] == expected


@settings(max_examples=100, deadline=None)
@given(graphs(forward_only=True))
def test_a_spec_in_data_flow_order_keeps_its_order(graph):
    assert [n.name for n in graph.topological()] == list(graph.nodes) == networkx_order(graph)


def test_ir_records_compare_and_print_by_their_fields_as_dataclasses_did():
    """Plain slotted classes (no dataclasses import at start): equal by every field and only
    to their own kind, the frozen ones hashable, the repr naming each field."""
    t = TensorType((1, 3, "H"))
    assert t == TensorType((1, 3, "H"), "float32") and hash(t) == hash(TensorType((1, 3, "H")))
    assert t != TensorType((1, 3, "H"), "int64") and t != ((1, 3, "H"), "float32", None)
    assert repr(t) == "TensorType(shape=(1, 3, 'H'), dtype='float32', plane=None)" and str(t) == "1×3×H"
    assert len({Scope("layer1.0", "basic", 0, 2), Scope("layer1.0", "basic", 0, 2)}) == 1
    a, b = Node("fc", "linear", ["x"]), Node("fc", "linear", ["x"])
    assert a == b and Node("x", INPUT).inputs is not Node("y", INPUT).inputs  # no list shared by default
    b.macs = 5
    assert a != b and "macs=5" in repr(b)
    with pytest.raises(TypeError):
        hash(a)
