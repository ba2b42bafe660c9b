"""YAML for files people edit (rules files): safe, strict about duplicate keys, and optional.

A duplicate key in YAML silently keeps the last value, so a price written twice would bill the wrong one without a
word; this loader refuses it, naming the line. PyYAML belongs to the ``cli`` extra (agents that only call the
library do not install it), so it is imported here, when a YAML file is actually read.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any

from metering.errors import MissingDependencyError, RulesFileError

__all__ = ["load_strict_yaml"]


def load_strict_yaml(text: str) -> Any:
    """``text`` parsed with a safe loader that refuses duplicate keys.

    :raises RulesFileError: not valid YAML, or a duplicate key (the message names the line; the caller adds the file).
    :raises MissingDependencyError: PyYAML is not installed.
    """
    yaml, loader = _strict_loader()
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader: no arbitrary Python objects are constructed
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesFileError(f"not valid YAML{where}: {problem}") from None


@functools.cache
def _strict_loader() -> tuple[Any, type[Any]]:
    """PyYAML and a SafeLoader subclass that refuses duplicate keys (built once, on first use)."""
    try:
        import yaml
    except ImportError as exc:
        raise MissingDependencyError(
            'reading YAML needs PyYAML: pip install "metering[cli]" (or write the rules as a .json file)'
        ) from exc

    class StrictLoader(yaml.SafeLoader):
        """A SafeLoader that refuses duplicate keys instead of keeping the last one silently."""

    def construct_mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
        loader.flatten_mapping(node)
        seen: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise RulesFileError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
            seen[key] = loader.construct_object(value_node, deep=True)
        return seen

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml, StrictLoader
