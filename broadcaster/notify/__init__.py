"""Notifications for people who are not watching: subscriptions by incident or by area,
delivered by Web Push and e-mail (see docs/notifications.md)."""

from broadcaster.notify.types import Channel, ChannelName, Level, Notice, Outcome, Result, Subscription

__all__ = ["Channel", "ChannelName", "Level", "Notice", "Outcome", "Result", "Subscription"]
