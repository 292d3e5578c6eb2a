"""``python -m indextts.launcher``: see cli.py."""

import sys

from .cli import main

sys.exit(main())
