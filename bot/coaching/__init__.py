"""Coaching domain: registers the actions, conditions and option providers flows use."""

import bot.reminders.actions  # noqa: F401  (reminder and settings flows)
from bot.coaching import (  # noqa: F401  (each module registers on import)
    feedback,
    feelings,
    interviews,
    plan,
    privacy,
    profile,
    progress,
    reflection,
    themes,
)
