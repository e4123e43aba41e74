"""What people ask smsbot to do, one module per family: sending (submit, confirm, resend and what
follows each outcome), reading (history, status, balance), routine sends (templates, schedules,
lists), compliance (opt-outs, access from Slack, the audit log), who may do what (access), the daily
limits (spend) and the one gate every door asks (gate). Nothing here parses Slack payloads or renders
messages; Slack is reached through the small interfaces in ports.py."""
