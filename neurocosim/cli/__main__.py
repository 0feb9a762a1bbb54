"""``python -m neurocosim.cli``."""

import sys

from . import main

sys.exit(main())
