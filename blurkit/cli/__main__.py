"""``python -m blurkit.cli`` (as torchrun runs it)."""

import sys

from blurkit.cli import main

sys.exit(main())
