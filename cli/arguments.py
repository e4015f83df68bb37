"""The `nncompile` command's flag values, checked: argparse types (argparse turns their
ArgumentTypeError into a one-line usage error, exit 2) and the commands' own checks
(UsageError, exit 2 too)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..compiler.expand import UsageError


def name_values(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects name=value, got '{pair}'")
        out[name.strip()] = value
    return out


def depth(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expects a block depth 0, 1, 2, …, got '{text}'")
    return int(text)


def column_names(text: str) -> list[str]:
    """build --columns layer,output,params: the report's columns, checked by name."""
    from ..compiler.backends.report import columns_named

    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    try:
        columns_named(names)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return names


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expects a whole number 1 or more, got '{text}'")
    return int(text)


MAX_SEED = 2**63 - 1  # the largest every generator takes (torch's, NumPy's, Python's)


def seed(text: str) -> int:
    if not text.strip().isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expects a whole number from 0 to 2^63 − 1, got '{text}'")
    return int(text)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def finite(text: str) -> float:
    if not math.isfinite(value := _number(text)):
        raise argparse.ArgumentTypeError(f"expects a finite number, got '{text}'")
    return value


def tolerance(text: str) -> float:
    if not math.isfinite(value := _number(text)) or value < 0:
        raise argparse.ArgumentTypeError(f"expects a finite number 0 or more, got '{text}'")
    return value


def output_file(*suffixes: str):
    """An argparse type for a file to write: its directory must exist (an output never creates
    directories) and, when `suffixes` are given, its suffix must be one of them."""

    def check(text: str) -> Path:
        path = Path(text)
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"cannot write '{text}': the suffix picks the format, one of "
                                             f"{', '.join(suffixes)}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"'{text}' is a directory; give a file name")
        if not path.absolute().parent.is_dir():
            raise argparse.ArgumentTypeError(f"cannot write '{text}': no such directory "
                                             f"'{path.parent}' (create it first)")
        return path

    return check


def output_dir(text: str) -> Path:
    """build -o DIR: DIR is the command's own output folder, so it is made if missing; its
    parent must exist (a typo in a path never grows a tree of directories)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a file, not a directory")
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write into '{text}': no such directory "
                                         f"'{path.parent}' (create it first)")
    return path


def spec_path(text: str) -> Path:
    """A spec file, or a network of the zoo by name (`resnet50`, or `zoo:resnet50`): a file of
    that name in the working directory wins over the zoo, with a note saying so."""
    from ..compiler import zoo

    forced = text.startswith(zoo.PREFIX)
    bare = zoo.is_bare_name(text.removeprefix(zoo.PREFIX))
    shipped = zoo.file(text) if forced or bare else None
    if not forced and Path(text).is_file():
        if shipped is not None:
            print(f"note: {text} is the file ./{text}, not the zoo's network (zoo:{text} names that)",
                  file=sys.stderr)
        return Path(text)
    if shipped is not None:
        return shipped
    if not forced and Path(text).exists():  # a directory, a FIFO, a device
        kind = "a directory" if Path(text).is_dir() else "not a regular file"
        raise UsageError(f"{text} is {kind}, not a spec file")
    what = "zoo network" if forced else "spec file or zoo network" if bare else "spec file"
    listing = f"{zoo.spelled(text, [p.stem for p in zoo.networks()])}; {zoo.shipped_networks()}" if bare else ""
    raise UsageError(f"no such {what}: {text}{listing}")
