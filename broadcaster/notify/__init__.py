"""Notifications for people who are not watching: subscriptions by incident or by area,
delivered by Web Push and e-mail (see docs/notifications.md)."""

from broadcaster.notify.types import Channel, ChannelName, Level, Notice, Outcome, Result, Subscription

__all__ = ["Channel", "ChannelName", "Level", "Notice", "Outcome", "Result", "Subscription"]

# H1: rules, subscriptions, keys.
from broadcaster.notify.rules import importance, notice
from broadcaster.notify.subscriptions import Subscriptions
from broadcaster.notify.vapid import application_server_key, load_vapid

__all__ += ["Subscriptions", "application_server_key", "importance", "load_vapid", "notice"]

# The notifier process (sending away from the web processes) and the figures read from the store.
from broadcaster.notify.process import NotifierChild, notifier_main  # noqa: E402
from broadcaster.notify.status import StatusReader, begin_now  # noqa: E402

__all__ += ["NotifierChild", "StatusReader", "begin_now", "notifier_main"]
