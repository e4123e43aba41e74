"""Slack listeners; each module exposes ``register(app, services)``.

``services`` (bot/usecases/services.py) is all a listener may use: the settings, who may do what,
groups and opt-outs, each use-case family, and ``later`` for slow work after the ack.
"""
