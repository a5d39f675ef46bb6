"""``thbench`` as separate processes with the test plugins registered, as a user's shell runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SUPPORT = Path(__file__).parent


def write_entry_script(path: Path) -> Path:
    path.write_text(textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("toy_plugins", {str(SUPPORT / "toy_plugins.py")!r})
        module = importlib.util.module_from_spec(spec); sys.modules["toy_plugins"] = module
        spec.loader.exec_module(module); module.register()
        if __name__ == "__main__":  # scoring workers import this script too
            from bench.cli import main
            sys.exit(main(sys.argv[1:]))
    """))
    return path


def thbench(script: Path, *arguments: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=300, **options)
