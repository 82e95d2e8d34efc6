"""`python -m accessctl` is the same as the `accessctl` console script."""

import sys

from accessctl.main import main

sys.exit(main())
