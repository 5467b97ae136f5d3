"""``python -m rosto``: the ``rosto`` command without its installed script."""

import sys

from rosto.cli import main

sys.exit(main())
