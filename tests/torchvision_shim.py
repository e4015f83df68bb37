"""torchvision for the tests that compare the zoo with it, or a skip where it cannot be had.

PyPI's torchvision wheel is a CUDA build; over the CPU torch the tests use, `import
torchvision` fails while registering its C++ ops (`operator torchvision::nms does not
exist`). Its model definitions are plain Python and need none of those ops, so the two
modules that register them are replaced by empty ones before the import.
(scripts/install.sh --test installs torchvision==0.28.0 with --no-deps, beside torch.)
"""

from __future__ import annotations

import sys
import types

import pytest

OP_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


def torchvision_or_skip():
    """The torchvision module; the calling test is skipped where it cannot be imported."""
    for name in OP_REGISTRATIONS:
        sys.modules.setdefault(name, types.ModuleType(name))
    try:
        import torchvision
    except Exception as e:  # not installed (ImportError), or built against another torch
        pytest.skip(f"torchvision cannot be imported: {e}")
    return torchvision
