"""Every message smsbot shows in Slack, as Block Kit with a plain-text fallback: one package, one
module per kind of message. Functions take plain data (rows, numbers, strings) and return dicts
ready for ``chat.postMessage``/``chat.update``/``ack``/``respond``; nothing here does I/O."""
from bot.slack.render.blocks import (  # noqa: F401  (the package's names)
    PREVIEW_CHARS, LIST_EACH_UP_TO, SECTION_CHARS, MESSAGE_BLOCKS, MODAL_BLOCKS, TEXT_CHARS, TITLE_CHARS, BUTTON_CHARS, HEADER_CHARS, RESEND_ACTION, CONFIRM_ACTION, CANCEL_ACTION, COMPOSE_VIEW, CONFIRM_VIEW, escape, clip, plain, section, context, sections, fallback, message, button, input_block, when, preview, usage_error, refused, modal_notice, gateway_problem,
)
from bot.slack.render.commands import (  # noqa: F401  (the package's names)
    USAGE, PREVIEW_KEPT, help_message, plan_lines, group_lines, balance_after, hold_head, confirm_preview, send_label, confirm_outcome, compose_modal, confirm_modal, queued, history, tracking_status,
)
from bot.slack.render.groups import (  # noqa: F401  (the package's names)
    group_changed, group_removed, group_list, group_members,
)
from bot.slack.render.money import (  # noqa: F401  (the package's names)
    forecast_sentence, balance, alert, alert_via_dm, home, home_refused,
)
from bot.slack.render.status import (  # noqa: F401  (the package's names)
    STATUS_LABELS, DELIVERY_LABELS, BUCKETS, bucket, status_label, counts, status_message, FAILED_NEXT_STEP, failed_reply, unconfirmed_reply, failure_digest, resent_reply, moved_to_dm, report_reply,
)
from bot.slack.render.routine import (  # noqa: F401  (the package's names)
    CANCEL_SCHEDULED_ACTION, TEMPLATE_PICK_ACTION, list_checking, list_problems, list_lines, list_preview, TEMPLATE_USAGE, template_picker, compose_extras, date_token, template_saved, template_list, template_shown, template_removed, scheduled_ack, scheduled_list, cancel_outcome, schedule_blocks, missed_reply,
)
from bot.slack.render.compliance import (  # noqa: F401  (the package's names)
    OPTOUT_USAGE, ACCESS_USAGE, optout_added, optout_removed, optout_list, optout_check, access_changed, access_list, audit, spend_line, with_spend, usage_report, export_comment, export_failed,
)
