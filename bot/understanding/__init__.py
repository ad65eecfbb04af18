"""Understanding what people type: pure functions on text, below the conversation layer.

The flows decide; this package only interprets (design notes, "Understanding what people
type"). It must not import bot.conversation, bot.coaching, bot.platforms, bot.reminders or
bot.storage, so it can be tested and benchmarked on text alone.
"""
