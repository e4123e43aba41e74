"""The SMS domain: text and number rules, send planning, the SMS Office client. No Slack, no storage."""
