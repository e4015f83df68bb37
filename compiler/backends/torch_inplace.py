"""Which activations the lowered module runs in place, as torchvision's do (`nn.ReLU(inplace=True)`).

Overwriting its input saves an activation a tensor the size of its output in forward and in
backward (on CPU, fresh memory first touched), which is what kept SqueezeNet's lowering
behind torchvision's. It is safe only where nothing else can see the overwritten tensor:

- the activation's backward reads its output, never its input (relu's threshold_backward
  and relu6's hardtanh_backward take the result), so autograd needs no copy of the input;
- the input is its producer's own fresh tensor (never a view or an alias of another one:
  a reshape, a chunk, an identity, dropout in eval mode all return their input's memory),
  and the producer's backward does not read it (a conv or linear keeps its input and weight,
  a batch norm its input and statistics, a sum or concat only sizes);
- the activation is the input's only consumer, and the input is not a graph output.

A relu of another relu, of a reshape, of a tensor that also feeds a residual sum, or of a
network input stays out of place.
"""

from __future__ import annotations

from collections import Counter

from ..ir import Graph

IN_PLACE = frozenset({"relu", "relu6"})  # backward from the output alone
FRESH_UNREAD = frozenset({"conv2d", "conv_transpose2d", "linear", "batchnorm1d", "batchnorm2d",
                          "frozen_batchnorm2d", "groupnorm", "layernorm", "add", "concat"})


def in_place(graph: Graph) -> frozenset[str]:
    """The activation layers of `graph` that may overwrite their input."""
    consumers = Counter(i for node in graph.nodes.values() for i in node.inputs)
    outputs = set(graph.outputs.values())
    chosen = set()
    for node in graph.nodes.values():
        if node.op not in IN_PLACE or len(node.inputs) != 1:
            continue
        source = node.inputs[0]
        producer = graph.nodes[source]
        # a one-input sum or concat is its input itself (`{0}`) or a copy of it: only real merges count
        fresh = producer.op in FRESH_UNREAD and (producer.op not in ("add", "concat") or len(producer.inputs) > 1)
        if fresh and consumers[source] == 1 and source not in outputs:
            chosen.add(node.name)
    return frozenset(chosen)
