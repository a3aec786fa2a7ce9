"""`nmt serve` with gates a test opens and closes through files in $NMT_TEST_GATES, so that it can
catch the real server mid-load or mid-decode (tests/test_serve.py):

- while ``hold-load`` exists, loading a model waits;
- a batch holding the line "HOLD" creates ``decoding`` and waits while ``hold-decode`` exists;
- a batch holding the line "RAISE" raises RuntimeError("injected failure").

Run as ``python tests/serve_gates.py serve -m MODEL_DIR ...``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from nmt.cli import main
from nmt.translator import Translator

GATES = Path(os.environ["NMT_TEST_GATES"])


def _wait_while(name: str) -> None:
    while (GATES / name).exists():
        time.sleep(0.02)


def _install() -> None:
    load, decode = Translator.from_pretrained.__func__, Translator.translate_hypotheses

    def from_pretrained(cls, *args, **kwargs):
        _wait_while("hold-load")
        return load(cls, *args, **kwargs)

    def translate_hypotheses(self, lines, *args, **kwargs):
        if "RAISE" in lines:
            raise RuntimeError("injected failure")
        if "HOLD" in lines:
            (GATES / "decoding").touch()
            _wait_while("hold-decode")
        return decode(self, lines, *args, **kwargs)

    Translator.from_pretrained = classmethod(from_pretrained)
    Translator.translate_hypotheses = translate_hypotheses


if __name__ == "__main__":
    _install()
    sys.exit(main(sys.argv[1:]))
