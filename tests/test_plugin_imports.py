"""Every command starts by importing all built-in plugins to know their names, so plugin
modules must not import heavy libraries at module level (torch, transformers, diffusers load
inside ``load()`` or lazily)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "diffusers", "peft", "onnxruntime")


def test_listing_plugins_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from bench.adapter import ADAPTERS\nfrom bench.task import TASKS\nfrom bench.ocr.base import OCR_ENGINES\n"
        "ADAPTERS.names(); TASKS.names(); OCR_ENGINES.names()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"imported at plugin discovery: {result.stdout.strip()}"
