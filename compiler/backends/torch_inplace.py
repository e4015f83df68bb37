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
from ..ops import REGISTRY


def in_place(graph: Graph) -> frozenset[str]:
    """The activation layers of `graph` that may overwrite their input (Op.overwrites_input
    and Op.output_overwritable say which ops qualify)."""
    consumers = Counter(i for node in graph.nodes.values() for i in node.inputs)
    outputs = set(graph.outputs.values())
    chosen = set()
    for node in graph.nodes.values():
        if node.is_input or not REGISTRY[node.op].overwrites_input:
            continue
        source = node.inputs[0]
        producer = graph.nodes[source]
        fresh = not producer.is_input and REGISTRY[producer.op].output_overwritable(len(producer.inputs))
        if fresh and consumers[source] == 1 and source not in outputs:
            chosen.add(node.name)
    return frozenset(chosen)
