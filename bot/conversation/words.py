"""Words that work at every step, whatever the flow says: one list, for every adapter.

The turn reads them before an answer (after safety); ``rebound flows check`` refuses a flow
command that is one of them, because such a command could never fire.
"""

from __future__ import annotations

GLOBAL_WORDS: dict[str, str] = {
    "help": "help", "?": "help", "what can you do": "help", "commands": "help",
    "pause": "pause", "not now": "pause", "take a break": "pause", "later": "pause",
    "stop": "stop", "cancel": "stop", "quit": "stop",
    "start over": "restart", "restart": "restart", "start again": "restart",
    "back": "back", "go back": "back",
    "menu": "menu", "home": "menu", "main menu": "menu",
    "resume": "resume", "continue": "resume", "carry on": "resume",
}  # fmt: skip
