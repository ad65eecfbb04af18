"""Coaching domain: registers the actions, conditions and option providers flows use."""

from bot.coaching import profile  # noqa: F401
