"""Real peers for trying and testing smsbot: the SMS Office simulator and a fake Slack Web API.

Shipped with the package because ``smsbot simulator`` is a product command; tests and bench/ import them from here.
"""
