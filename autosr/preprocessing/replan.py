"""Re-planning without losing hand edits.

Beside ``autosrPlans.json`` the planner keeps its untouched output, ``autosrPlans.planned.json``.
On re-planning, every leaf value (``configurations.2d.training.lr``, ``normalization.0.upper``,
…; ``why`` texts excepted) that differs between the two was edited by hand; each such edit is
carried into the fresh plans, then checked against the data, and reverted with a warning when
it is no longer valid (:meth:`DefaultPlanner.plan` applies and checks them). A value that is wrong
whatever the data (type, range, unknown key) never gets here: re-planning reads the plans with
``Plans.load(path, replanning=True)``, which refuses it naming the file and key. Without the sidecar
(plans written by hand), every value that differs from the fresh plans counts as an edit.
Configurations the user added are kept whole (by :func:`autosr.preprocessing.api.plan_experiment`).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from autosr.plans import Path_


def leaves(node: Any, prefix: Path_ = ()) -> Dict[Path_, Any]:
    """Leaf values of nested dicts (and lists of dicts) keyed by their path; ``why`` skipped."""
    out: Dict[Path_, Any] = {}
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k != "why":
                out.update(leaves(v, prefix + (k,)))
    elif isinstance(node, list) and node and all(isinstance(v, Mapping) for v in node):
        for i, v in enumerate(node):
            out.update(leaves(v, prefix + (i,)))
    else:
        out[prefix] = node
    return out


def get_path(node: Any, path: Path_, default: Any = None) -> Any:
    for k in path:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return default
    return node


def set_path(node: Any, path: Path_, value: Any) -> bool:
    """Set ``node[path] = value``; ``False`` (nothing set) when a parent does not exist."""
    for k in path[:-1]:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(node, list) and not (isinstance(path[-1], int) and path[-1] < len(node)):
        return False
    node[path[-1]] = value
    return True


def find_edits(current: Mapping[str, Any], pristine: Optional[Mapping[str, Any]],
               fresh: Mapping[str, Any]) -> Dict[Path_, Any]:
    """Leaves of ``current`` that were edited by hand (see the module docstring)."""
    reference = leaves(pristine if pristine is not None else fresh)
    fresh_confs = set(fresh.get("configurations", {}))
    edits = {}
    for path, value in leaves(current).items():
        if len(path) >= 2 and path[0] == "configurations" and path[1] not in fresh_confs:
            continue  # a whole user-added configuration is copied separately
        if path not in reference or reference[path] != value:
            edits[path] = value
    return edits
