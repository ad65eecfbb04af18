"""Coaching domain: registers the actions, conditions and option providers flows use."""

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
