"""Small lexical helpers shared by the understanding layers.

Embeddings are weak exactly where a coach cannot afford to be: negation ("not nervous at all")
and intensity ("a bit" vs "a lot"). These helpers give the layers a cheap, explainable second
opinion that works with or without the sentence encoder.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Words that turn what follows within a short window into its opposite.
NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nor",
        "don't",
        "dont",
        "doesn't",
        "doesnt",
        "didn't",
        "didnt",
        "isn't",
        "isnt",
        "wasn't",
        "wasnt",
        "aren't",
        "arent",
        "weren't",
        "werent",
        "won't",
        "wont",
        "can't",
        "cant",
        "couldn't",
        "couldnt",
        "hardly",
        "barely",
        "without",
        "neither",
        "nothing",
    ]
)
# Chat shorthand expanded before matching, so "tbh im not rly nervous" reads like English.
_SHORTHAND = {
    "im": "i'm", "ive": "i've", "dont": "don't", "didnt": "didn't", "cant": "can't",
    "wasnt": "wasn't", "isnt": "isn't", "rly": "really", "realy": "really", "u": "you",
    "ur": "your", "pls": "please", "plz": "please", "thx": "thanks", "tmrw": "tomorrow",
    "abt": "about", "w/": "with", "bc": "because", "cuz": "because", "coz": "because",
    "nah": "no", "nope": "no", "yep": "yes", "yeah": "yes", "yup": "yes", "ya": "yes",
    "ye": "yes", "yea": "yes", "ok": "okay", "k": "okay", "kinda": "kind of",
    "sorta": "sort of", "gonna": "going to", "wanna": "want to", "tho": "though",
}  # fmt: skip
MAX_UNDERSTOOD = 1000
_BREAKS = frozenset(",;.!?")


def normalise(text: str) -> str:
    """Lower-case, straight apostrophes, no emoji or symbols, single spaces, shorthand expanded.

    Only the first ``MAX_UNDERSTOOD`` characters are read: a pasted email is still answered,
    but understanding never spends unbounded time on one message.
    """
    text = unicodedata.normalize("NFKC", text[:MAX_UNDERSTOOD]).lower().translate(_APOSTROPHES)
    kept = "".join(" | " if ch in _BREAKS else ch if _kept(ch) else " " for ch in text)
    words = [_SHORTHAND.get(w, w) for w in kept.split()]
    # "|" marks a clause break ("not angry, just disappointed"): a negation stops there.
    return re.sub(r"(\| )+\|?", "| ", " ".join(words)).strip(" |")


def _kept(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNZ" or ch in "'/-"


def words(text: str) -> list[str]:
    """The words of already-normalised text."""
    return _WORD.findall(text)


def _flat(text: str) -> tuple[str, list[int]]:
    """The text without clause marks, and where each kept character stood in it."""
    kept: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(text):
        if text[i] == "|":
            i += 2 if text.startswith("| ", i) else 1
            continue
        kept.append(text[i])
        where.append(i)
        i += 1
    return "".join(kept), where


def contains_phrase(text: str, phrase: str) -> int:
    """Index of ``phrase`` in ``text`` on word boundaries, or -1 (both normalised). Clause
    marks are ignored here ("yes, that's right" contains "yes that's right")."""
    flat_phrase = _flat(phrase)[0].strip()
    if not flat_phrase:
        return -1
    flat, where = _flat(text)
    match = re.search(rf"(?<![a-z0-9']){re.escape(flat_phrase)}(?![a-z0-9])", flat)
    return where[match.start()] if match else -1


def negated_at(text: str, index: int, window: int = 3) -> bool:
    """True when one of the few words before ``index`` negates what starts there."""
    before = words(text[:index].rsplit("|", 1)[-1])[-window:]
    return any(w in NEGATORS for w in before)


def find_unnegated(text: str, phrase: str, window: int = 3) -> bool:
    """``phrase`` occurs in ``text`` and that occurrence is not negated just before it
    (within ``window`` words: 1 means only the word right before it counts)."""
    index = contains_phrase(text, phrase)
    if index < 0:
        return False
    # A phrase that itself starts with a negator ("not really") is matched as it stands.
    if words(phrase)[:1] and words(phrase)[0] in NEGATORS:
        return True
    return not negated_at(text, index, window)
