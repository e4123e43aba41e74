"""``smsbot run | check | simulator | backup | send-list | optout | export | vacuum``: one module per
subcommand or family; ``main.py`` parses the command line and dispatches."""
