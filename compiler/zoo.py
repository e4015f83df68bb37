"""The zoo that ships with nncompile: the networks of specs/ and the block libraries of
specs/lib/, installed as the package data nncompile.zoo. The command line names a network
by its file's stem (`nncompile build resnet50`) or as `zoo:resnet50`; a spec imports a
library as `zoo:lib/resnet.yaml`. Nothing else of the installed package can be read so.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

PREFIX = "zoo:"
SUFFIX = ".yaml"


@functools.cache
def folder() -> Path | None:
    """Where the zoo is installed (site-packages/nncompile/zoo, or specs/ in an editable
    install), or None in a tree that has no zoo."""
    spec = importlib.util.find_spec("nncompile.zoo")
    locations = spec.submodule_search_locations if spec else None
    return next((Path(p) for p in locations or () if Path(p).is_dir()), None)


def natural(path: Path) -> list:
    """resnet18 before resnet101."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem)]


def networks() -> list[Path]:
    return sorted(folder().glob("*" + SUFFIX), key=natural) if folder() else []


def libraries() -> list[str]:
    """The libraries as an import names them: zoo:lib/resnet.yaml."""
    return [f"{PREFIX}lib/{p.name}" for p in sorted(folder().glob("lib/*" + SUFFIX))] if folder() else []


def file(name: str) -> Path | None:
    """The zoo's file that `name` (`zoo:lib/resnet.yaml`, `zoo:resnet50`, `resnet50`) names,
    `.yaml` optional, or None. Never a file outside the zoo (`zoo:../x` is None)."""
    root = folder()
    relative = name.removeprefix(PREFIX)
    if root is None or not relative:
        return None
    try:
        target = (root / relative).resolve()
        if target.suffix != SUFFIX:
            target = target.with_name(target.name + SUFFIX)
        return target if target.is_relative_to(root.resolve()) and target.is_file() else None
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return None


def is_bare_name(text: str) -> bool:
    """A word that may name a zoo network on the command line (no folder, no suffix)."""
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]+", text)) and not Path(text).suffix


def spelled(word: str, choices: list[str]) -> str:
    """' (did you mean 'resnet50'?)' when `word` is a choice in other case or with other
    separators (ResNet-50, mobilenetv2), else '': resnet51 is no misspelling of resnet50."""
    def plain(text: str) -> str:
        return re.sub(r"[\s_.-]", "", text.removeprefix(PREFIX).removesuffix(SUFFIX)).lower()

    same = [c for c in choices if plain(c) == plain(word)]
    return f" (did you mean '{same[0]}'?)" if same else ""


def shipped_networks() -> str:
    names = [p.stem for p in networks()]
    return f"the zoo has {', '.join(names)} (`nncompile zoo` lists them)" if names else "this install has no zoo"


def shipped_libraries() -> str:
    names = libraries()
    return f"the zoo's libraries: {', '.join(names)}" if names else "this install has no zoo"


SHOWN = 2  # tensors listed per cell; more are counted


def tensors(graph, pairs) -> str:
    """`name N×3×224×224`, the first few of them, then how many more."""
    cells = [f"{name} {graph.nodes[node].type}" for name, node in pairs]
    more = f" + {len(cells) - SHOWN} more" if len(cells) > SHOWN else ""
    return ", ".join(cells[:SHOWN]) + more


def summary(graph) -> list[str]:
    """An analysed network's row of the zoo's table: name, input, output, params, MACs."""
    from .backends.report import human

    macs = "—" if graph.totals.macs is None else human(graph.totals.macs)  # a symbolic size leaves it open
    return [graph.name, tensors(graph, [(name, name) for name in graph.inputs]),
            tensors(graph, graph.outputs.items()), f"{graph.totals.params:,}", macs]
