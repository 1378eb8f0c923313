"""`python -m clapldm ...`: the same as the `clapldm` command."""

import sys

from clapldm.cli import main

sys.exit(main())
