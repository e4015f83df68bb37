"""Passes over the IR; each annotates nodes in place."""

from .infer import Totals, infer

__all__ = ["Totals", "infer"]
