"""Settings: every SMSBOT_/SMSOFFICE_/SLACK_ variable read, checked and explained (settings.py), with
the parsers of their values (values.py)."""
