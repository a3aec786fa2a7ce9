"""nmt: a fast, faithful RNN machine-translation toolkit."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names and their modules, imported on first use so that `import nmt` (and commands that
# need no model, such as `nmt evaluate --hyp`) does not load torch.
_LAZY = {"Translator": "nmt.translator", "Translation": "nmt.translator"}

if TYPE_CHECKING:
    from nmt.translator import Translation, Translator


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nmt' has no attribute '{name}'")


__all__ = ["Translation", "Translator", "__version__"]
