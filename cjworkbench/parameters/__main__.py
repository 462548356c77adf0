"""`python -m cjworkbench.parameters --markdown`: the README's Parameters reference."""

import sys

from .reference import main

sys.exit(main())
