"""``python -m trading_pipelines.cockpit [--host H] [--port P]``."""

import sys

from trading_pipelines.cockpit.serve import main

sys.exit(main())
