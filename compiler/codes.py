"""Every diagnostic code nncompile reports, a closed set: each code, what it means and how to
fix it, in this one place.

A Diagnostic refuses a code that is not here (a typo fails at once, in every test that
reaches it); docs/errors.md documents every code here, by its example in examples/errors/
or, where no small spec triggers it, by this text (scripts/gen_errors_doc.py); and
tests/compiler/test_codes.py proves that these codes and the ones the source of compiler/,
runtime/ and cli/ emits are the same set.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):  # (not a dataclass: a tenth of the cost to declare, at every start)
    meaning: str  # one sentence: what is wrong
    fix: str
    reported_by: str = "build"  # build (so every command that reads a spec), export or train
    warning: bool = False  # a warning: the command still succeeds


def _train(meaning: str, fix: str) -> Code:
    return Code(meaning, fix, reported_by="train")


CODES: dict[str, Code] = {
    # the YAML itself
    "not-utf8": Code("A spec file is not UTF-8 text.",
                     "Save the file as UTF-8 (every editor can; `iconv -f latin1 -t utf-8` converts one)."),
    "no-file": Code("A spec file, given or imported, cannot be read: a directory, not a regular file, or "
                    "unreadable.",
                    "Check the path and the file's permissions."),
    "yaml-syntax": Code("The file is not valid YAML.",
                        "Correct the syntax at the caret: usually an indentation, an unclosed bracket or quote, or a "
                        "`:` missing after a key."),
    "yaml-tag": Code("A YAML tag (`!!python/object`, `!include`, …) asks for something other than plain data.",
                     "Remove the tag: a spec is plain data (mappings, lists, numbers, strings)."),
    "yaml-key": Code("A mapping key is not a name (null, a number, a list or a mapping).",
                     "Write the key as a name."),
    "yaml-merge": Code("A YAML merge key `<<` is given something other than a mapping or a list of mappings.",
                       "Merge a mapping (usually an alias such as `*defaults`) or a list of them."),
    "yaml-recursive-alias": Code("A YAML alias refers to the node that contains it, which would make an infinite "
                                 "value.",
                                 "Point the alias at a node outside itself, or write the value out."),
    "yaml-too-large": Code("A spec is too large to read: a file over the size limit, more than 1,000,000 YAML "
                           "events, YAML nested too deeply, or aliases that expand to too many values.",
                           "Flatten the nesting; use blocks and `repeat:` rather than deep YAML structures."),
    "duplicate-key": Code("A mapping has the same key twice (YAML keeps only the last silently; nncompile refuses).",
                          "Remove one of the two keys, or rename it."),
    "bad-number": Code("A number is not usable: NaN, or too many digits to be a size.",
                       "Write a finite number of a reasonable size."),
    "not-a-mapping": Code("The top level of a spec is not a mapping.",
                          "Start the file with the spec's keys: `name:`, `inputs:`, `layers:`."),
    # the spec's structure
    "unknown-key": Code("A key that nothing at its place knows: an op's attribute, a spec key or a config key "
                        "misspelled.",
                        "Spell the key as documented; the message suggests the closest one (`nncompile ops -v` "
                        "lists each op's attributes)."),
    "missing-key": Code("A required key is missing: an op's attribute without a default, or a required config key.",
                        "Add the key the message names."),
    "bad-attribute": Code("A value has the wrong type or is out of range for its key (an attribute, `repeat`, "
                          "`when`, `trainable`).",
                          "Give a value of the type the key takes; `nncompile ops -v` lists the types."),
    "bad-name": Code("A name is not an identifier (letters, digits and _, not starting with a digit).",
                     "Rename it: names become parameter names in PyTorch and node names in ONNX."),
    "layer-entry": Code("An item of `layers` is not one layer.",
                        "Write each layer as its own item, `- name: body`."),
    "no-op": Code("A layer's mapping says neither which op it is nor which block it calls.",
                  "Add `op: NAME` or `block: NAME`."),
    "unknown-op": Code("A layer names an op that does not exist.",
                       "Use one of the ops `nncompile ops` lists; the message suggests another spelling of one."),
    "no-layers": Code("A spec (not a library of blocks) has no layers.", "Add `layers:`."),
    "no-inputs": Code("A network has no inputs, so nothing says what its first layer reads.",
                      "Add `inputs:`, e.g. `inputs: {x: [N, 3, 224, 224]}`."),
    "bad-shape": Code("An input's shape has a dim that is neither a positive integer nor a symbol.",
                      "Give every dim as a positive integer or a symbol such as N."),
    "duplicate-name": Code("Two layers of one list have the same name.", "Rename one of them."),
    "bad-input": Code("`in:` reads nothing usable: an empty list, or a layer with several outputs read as one.",
                      "List the inputs; read one output of a multi-output layer by its index (`parts.0`)."),
    "unknown-input": Code("`in:` names a layer that does not exist in its scope.",
                          "Name an earlier layer of the same list, or an input; the message suggests the closest."),
    "cycle": Code("Layers read each other's outputs in a circle.",
                  "Break the cycle: a layer can only read layers that do not depend on it."),
    "bad-share": Code("`share:` reuses another layer's parameters, but their shapes differ (or the layer shared "
                      "has none).",
                      "Share only between layers with parameters of the same shapes."),
    "bad-init": Code("An initial value cannot be used: an inline weight of the wrong shape, or an init scheme "
                     "that does not fit the parameter.",
                     "Give the shape the message names, or a scheme that fits."),
    "unused": Code("A layer or block instance whose output reaches no output of the network.",
                   "Join the branch into the network, or remove it.", warning=True),
    # expressions, blocks and imports
    "bad-expression": Code("An expression `${…}` cannot be evaluated: an unknown name, a syntax error, a division "
                           "by zero.",
                           "Correct the expression; the names it may use are the spec's and the block's parameters."),
    "unknown-param": Code("A block call passes a parameter the block does not declare.",
                          "Pass only declared parameters; the message suggests the closest."),
    "missing-param": Code("A block call leaves out a parameter that has no default.", "Pass the parameter."),
    "bad-param": Code("A parameter is given a value of another type than it declares.",
                      "Pass a value of the declared type."),
    "unknown-block": Code("`block:` names a block that is neither defined in the file nor imported.",
                          "Define the block, import the library that has it, or correct the name."),
    "block-inputs": Code("A block is called with another number of inputs than it declares.",
                         "Pass as many inputs (`in:`) as the block's `inputs:` lists."),
    "block-recursion": Code("A block calls itself, directly or through others, so expanding it never ends.",
                            "Use `repeat:` for a repeated structure."),
    "too-large": Code("The network is too large to build: blocks and repeats expand to more than 250,000 layers, "
                      "blocks nest too deeply, or its parameters exceed the memory budget.",
                      "Lower the repeat counts or nesting; for a truly large network, raise max_param_bytes."),
    "import-missing": Code("An import names a file or shipped library that does not exist.",
                           "Correct the path (relative to the importing spec) or the library's name."),
    "import-outside": Code("An import reaches outside the spec's directory tree.",
                           "Move the library under the spec's directory, or allow its folder with --allow-path."),
    "import-cycle": Code("Libraries import each other, so neither can be loaded first.",
                         "Move what both need into a third library."),
    # shapes
    "shape-mismatch": Code("A layer's input shapes do not fit its op (an add of different shapes, a matmul of "
                           "unequal inner dims, …).",
                           "Follow the notes' arithmetic back to the layer that makes the wrong shape."),
    "in-features": Code("A linear layer's in_features, written, differs from the features its input carries.",
                        "Omit in_features (it is inferred) or correct it."),
    "in-channels": Code("A layer's in_channels (or num_features), written, differs from its input's channels.",
                        "Omit it (it is inferred) or correct it."),
    "kernel-too-large": Code("A kernel is larger than its padded input.",
                             "Pad the input, shrink the kernel, or downsample less before it."),
    "floor-mismatch": Code("Two sizes a layer joins differ because a pooling or stride upstream rounds one of them "
                           "down: symbolic sizes that would agree if the input's size were a multiple of some k.",
                           "Declare the input's size such a multiple, as the note says: `16*h` in its shape is any "
                           "multiple of 16, through which every floor divides exactly."),
    "inexact-division": Code("A stride does not divide the input evenly, so a window would fall off its edge.",
                             "Change the padding, kernel or stride so (in + 2·padding − kernel) is a multiple of "
                             "the stride."),
    # backends
    "torch-name": Code("A layer's name is an attribute torch.nn.Module already has (`forward`, `training`, …).",
                       "Rename the layer or block."),
    "no-onnx": Code("`nncompile export` met a layer whose op has no direct ONNX lowering.",
                    "Export through PyTorch instead: `nncompile export --via torch`.", reported_by="export"),
    "no-torch-export": Code("`nncompile export --via torch` met a layer whose torch lowering depends on the data "
                            "(NMS loops, boxes routed per image), which torch.onnx.export's one traced run would "
                            "freeze.", "Export without `--via torch`: the direct export lowers it to standard ONNX "
                            "ops.", reported_by="export"),
    # training (located in the training config)
    "bad-config": _train("A training config value is out of range or of the wrong type, or the config is not a "
                         "mapping.",
                         "Give a value the key takes (docs/training.md lists them)."),
    "batch-split": _train("data.batch_size, the global batch, does not split evenly among the processes.",
                          "Make data.batch_size a multiple of the process count (--nproc × --nnodes)."),
    "train-io": _train("Training needs a spec with one input, and one loss for each of its outputs.",
                       "Train a spec with one input; for several outputs, give train.loss a loss per output by "
                       "name (docs/training.md, multi-task objectives)."),
    "unknown-output": _train("A multi-task train.loss names an output the spec does not have, or leaves one of "
                             "its outputs without a loss.",
                             "Key train.loss by the spec's output names, one loss for each; the message lists them."),
    "data-shape": _train("The dataset's samples or targets do not have the shapes the spec's input and output "
                         "and the loss need.",
                         "Choose a dataset that fits the spec, or change the spec's input or output."),
    "data-labels": _train("The dataset's targets are not the class indices the loss needs, or fall outside the "
                          "spec's classes.",
                          "Use a classification loss with integer labels 0 … classes − 1, or widen the output."),
    "bad-loss": _train("The loss cannot take the network's output (e.g. `bce` on values that are not "
                       "probabilities).",
                       "Choose a loss for this output, or end the network with the activation the loss needs."),
    "bad-metric": _train("A metric does not apply to the loss or the number of classes.",
                         "Choose metrics that fit the task (docs/training.md)."),
    "unknown-layer": _train("A stage names a layer or block instance the spec does not have.",
                            "Name a layer of the spec; the message suggests the closest."),
    "nothing-to-train": _train("A stage trains no parameter: everything it would train is frozen.",
                               "Unfreeze some layers for the stage, or remove the stage."),
    "decoder-shape": _train("A reconstruction stage's decoder does not map the encoder's output back to its "
                            "input's shape.",
                            "Give a decoder spec whose input and output fit the layer reconstructed."),
    "not-differentiable": _train("The network cannot be differentiated: a layer without a gradient (such as a "
                                 "`step` activation) is on the gradient's path.",
                                 "Use a differentiable activation (e.g. sigmoid) for training."),
    "non-finite": _train("Training stopped at a loss or gradient that is NaN or infinite.",
                         "Lower the learning rate and continue with --resume (the checkpoints are from before)."),
}


def checked(code: str) -> str:
    """The code, if it is one of CODES ('' is a diagnostic without a code); a ValueError naming
    the closest code otherwise: a bug in nncompile, not in the user's spec."""
    if code and code not in CODES:
        import difflib

        close = difflib.get_close_matches(code, CODES, n=1)
        raise ValueError(f"diagnostic code {code!r} is not in compiler/codes.py"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    return code
