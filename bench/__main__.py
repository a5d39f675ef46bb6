"""``python -m bench``: the ``thbench`` command, for launchers that take a module
(``torchrun -m bench run …``, ``accelerate launch -m bench run …``)."""

import sys

from bench.cli import main

sys.exit(main())
