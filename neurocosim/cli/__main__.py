"""``python -m neurocosim.cli``."""
from . import main

raise SystemExit(main())
