"""Details pulled from a sentence: company, role and stage ("interview on friday with Monzo for
a PM role"). They only ever *prefill*: the person sees them and confirms or edits, so a wrong
guess costs one correction and never a wrong record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOT_A_COMPANY = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "me",
        "them",
        "him",
        "her",
        "us",
        "it",
        "this",
        "that",
        "next",
        "last",
        "today",
        "tomorrow",
        "tonight",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thur",
        "thurs",
        "fri",
        "sat",
        "sun",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "am",
        "pm",
        "noon",
        "midday",
        "home",
        "work",
        "all",
        "least",
        "some",
        "one",
        "two",
        "three",
        "four",
        "five",
        "about",
        "around",
        "their",
        "his",
        "our",
        "your",
        "i",
        "you",
        "we",
        "they",
        "interview",
        "role",
        "job",
        "position",
        "company",
        "team",
        "recruiter",
        "recruiters",
        "hr",
    ]
)
_NOT_A_ROLE = frozenset(
    ["a", "an", "the", "new", "same", "other", "this", "that", "next", "my", "their", "job", "role"]
)
_COMPANY = re.compile(
    r"\b(?:with|at|from|by|for|to)\s+((?:[A-Z0-9][\w&.'-]*)(?:\s+[A-Z0-9][\w&.'-]*){0,2})"
)
_COMPANY_LOWER = re.compile(r"\b(?:with|at|from|by)\s+([a-z0-9][\w&.'-]*)")
_COMPANY_SUBJECT = re.compile(
    r"^\s*([A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*){0,2})\s+(?:just\s+)?"
    r"(?:emailed|called|rang|replied|wrote|rejected|turned|said|got back|came back|offered)"
)
_ROLE = (
    re.compile(r"\bfor (?:a|an|the)\s+(.{2,60}?)\s+(?:role|position|job|post|opening)\b", re.I),
    re.compile(
        r"\b(?:as|for) (?:a|an)\s+([\w .+#/-]{2,50}?)(?=\s+(?:at|with|in|on|role)\b|[,.!?]|$)", re.I
    ),
    re.compile(r"\b(?:the|my|a|an)\s+([\w .+#/-]{2,40}?)\s+(?:role|position|job)\b", re.I),
)
_STAGES = (
    ("final", re.compile(r"\bfinal\b|\blast round\b|\bonsite\b|\bon-site\b", re.I)),
    ("second_round", re.compile(r"\bsecond\b|\b2nd\b", re.I)),
    ("first_round", re.compile(r"\bfirst round\b|\b1st round\b|\bfirst interview\b", re.I)),
    ("screen", re.compile(r"\bscreen(?:ing)?\b|\bphone (?:call|interview)\b|\bvideo call\b", re.I)),
    ("assessment", re.compile(r"\bassessment\b|\btake[- ]home\b|\bcase study\b|\btest\b", re.I)),
)
_TRAILING_TIME = re.compile(r"\s+(?:on|next|this|at|tomorrow|today|tonight|in|for)\b.*$", re.I)


@dataclass(frozen=True)
class Details:
    company: str | None = None
    role: str | None = None
    stage: str | None = None

    def as_slots(self) -> dict[str, str]:
        return {k: v for k, v in (("company", self.company), ("role", self.role),
                                  ("stage", self.stage)) if v}  # fmt: skip


def _clean_company(raw: str) -> str | None:
    parts = [p for p in raw.strip(" .,!?'").split() if p]
    while parts and parts[-1].lower().strip(".,!?") in _NOT_A_COMPANY:
        parts.pop()
    while parts and parts[0].lower() in _NOT_A_COMPANY:
        parts.pop(0)
    name = " ".join(parts).strip(" .,!?'")
    return name[:80] if name and name.lower() not in _NOT_A_COMPANY else None


def company_in(text: str) -> str | None:
    """The employer named in a sentence, if one is plainly there."""
    text = text[:500]
    for pattern in (_COMPANY_SUBJECT, _COMPANY):
        for match in pattern.finditer(text):
            name = _clean_company(match.group(1))
            if name:
                return name
    for match in _COMPANY_LOWER.finditer(text):
        name = _clean_company(match.group(1))
        if name and not name[0].isdigit():
            return name
    return None


def role_in(text: str) -> str | None:
    text = text[:500]
    for pattern in _ROLE:
        match = pattern.search(text)
        if match:
            role = _TRAILING_TIME.sub("", match.group(1)).strip(" .,!?")
            if role and role.lower() not in _NOT_A_ROLE and len(role) <= 60:
                return role
    return None


def stage_in(text: str) -> str | None:
    for stage, pattern in _STAGES:
        if pattern.search(text[:500]):
            return stage
    return None


def details_in(text: str) -> Details:
    """Everything plainly named in the sentence; missing pieces are None."""
    return Details(company=company_in(text), role=role_in(text), stage=stage_in(text))
