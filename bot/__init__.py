"""smsbot: send SMS through SMS Office from Slack, and follow each message's delivery.

The version lives here and only here: pyproject.toml reads it (``[tool.setuptools.dynamic]``), and
``smsbot --version``, the start-up summary, ``/healthz`` and the ``smsbot_build_info`` metric show it.
"""

__version__ = "0.3.0"
