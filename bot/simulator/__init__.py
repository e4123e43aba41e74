"""The SMS Office simulator, shipped as a product: the gateway per its spec on a port of its own
(``smsbot simulator``, cli.py) or inside the bot (``smsbot run --simulator``, embedded.py)."""
