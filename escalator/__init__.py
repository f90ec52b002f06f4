"""Escalator: a real support-ticket escalation process for Zendesk and Freshdesk.

The project keeps its parts in top-level folders (`plugin/`, `connectors/`, `rules/`, `fakedesk/`) and
installs them as `escalator.plugin`, `escalator.connectors`, `escalator.rules` and `escalator.fakedesk`
(setuptools `package-dir`), so their import names cannot collide with other distributions' (`rules` is
django-rules'). The links in this folder give tools run from a checkout (pytest, mypy) the same names.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "escalator-helpdesk"

try:
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
