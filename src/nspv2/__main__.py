"""``python -m nspv2``: the ``nspv2`` command (see nspv2.cli)."""

import sys

from .cli import main

sys.exit(main())
