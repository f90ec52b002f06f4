"""The exit codes of every `escalator` command (DESIGN §3): scripts and supervisors rely on them."""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1
"""A check found problems: invalid rules, a failed install step, a refused request."""
EXIT_USAGE = 2
"""Usage or configuration error."""
EXIT_REDIS = 3
"""Redis unreachable."""
EXIT_DESK = 4
"""The help desk unreachable, or refusing our credentials."""
