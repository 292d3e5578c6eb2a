"""``python -m indextts.scale deploy|stop|status --address ray://HOST:PORT``: see cluster.py."""

import sys

from .cluster import main

sys.exit(main())
