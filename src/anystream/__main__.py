"""``python -m anystream``: the same as the ``anystream`` console script."""

import sys

from .cli import main

sys.exit(main())
