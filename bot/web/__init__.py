"""HTTP: the waitress server thread and the one WSGI app (Slack, delivery reports, health, metrics)."""
