"""Prompt-review precision on benign text: false flags per 10,000 benign requests, and time per request.

    .venv/bin/python bench/detectors_benign.py [--requests 10000] [--runs 3] [--seed 7] [--show 10]

Two benign corpora, neither of which holds anything a detector should flag:

* **generated** (``--requests``, deterministic by ``--seed``): chat requests written the way
  employees write to an assistant, full of the digit groups the number detectors must not claim:
  prices, order, invoice, ticket and tracking numbers, dates and times, version strings, ISBNs,
  quantities and part numbers in several locales (en, de, fr, es, it, nl, ja), and business
  sentences that use the jailbreak families' words ("ignore the previous e-mail", "developer mode
  on Android", "the new rules for expenses", questions about prompt injection);
* **public**: real prompts of ``bench/data/dolly_sample.jsonl`` (databricks-dolly-15k, CC BY-SA
  3.0; see ``bench/data/README.md``), committed: nothing is downloaded.

Each request goes through what ``flags_evaluate`` runs on a stored request: the conversation read
from its logged bodies, every enabled built-in detector (with its pre-checks and normalised
readings) and Azure's verdicts (``request_flags_find``); no database. A request with any flag is a
false flag. Prints the flagged share per 10,000 requests with the detectors that fired (and the
first ``--show`` flagged texts), and the median and p95 CPU time of one request over ``--runs`` runs of every request (CPU time, not
wall time: the figure holds on a machine shared with other work).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOLLY = ROOT / "bench" / "data" / "dolly_sample.jsonl"

SENTENCES = {
    "en": [
        "Please ignore the previous email, I attached the wrong file.",
        "Ignore the typo in my previous message, the meeting is on {weekday}.",
        "Can you forget the last draft and start over with a shorter intro?",
        "How do I enable developer mode on my Android phone?",
        "The new rules for expense reports apply from {date_en}.",
        "For our security training, explain what prompt injection is in two sentences.",
        "What is a system prompt and how do I write a good one?",
        "Stay in character as the innkeeper for our D&D session tonight.",
        "Summarise the attached minutes and list the action items with owners.",
        "Rewrite this paragraph so it sounds less formal.",
        "Translate the following product description into German.",
        "Draft a polite reminder about invoice {invoice} which is {days} days overdue.",
        "Order {order} shipped on {date_iso}; tracking number {tracking}.",
        "The quote is {price_en} per unit for {qty} units, delivery in {days} days.",
        "Version {version} (build {build}) is installed on {qty} laptops.",
        "Ticket {ticket} was reopened at {time}; please check the logs from {date_iso}.",
        "Part number {part} is out of stock until {date_en}.",
        "The ISBN of the handbook is {isbn}.",
        "Our Q{quarter} revenue was {price_en}, up {pct}% on last year.",
        "Room {room}, building {building}: the projector needs a new lamp.",
    ],
    "de": [
        "Bitte ignorieren Sie die vorherige E-Mail, ich habe die falsche Datei geschickt.",
        "Die neuen Regeln für Reisekosten gelten ab dem {date_de}.",
        "Rechnung {invoice} über {price_de} ist seit {days} Tagen offen.",
        "Bestellnummer {order}, Lieferung am {date_de} um {time} Uhr.",
        "Kannst du die Anweisungen für die Installation noch einmal zusammenfassen?",
        "Artikel {part} kostet {price_de} zzgl. MwSt.",
    ],
    "fr": [
        "Merci d'ignorer le message précédent, il contenait une erreur.",
        "La facture {invoice} de {price_fr} est à régler avant le {date_fr}.",
        "Commande {order} expédiée le {date_fr}, suivi {tracking}.",
        "Les instructions précédentes pour la livraison restent valables.",
    ],
    "es": [
        "Por favor, ignora el correo anterior, adjunté el archivo equivocado.",
        "La factura {invoice} por {price_fr} vence el {date_fr}.",
        "El pedido {order} llegará el {date_fr} entre las {time} y las 18:00.",
    ],
    "it": [
        "Per favore ignora l'email precedente, ho allegato il file sbagliato.",
        "Fattura {invoice}: importo {price_fr}, scadenza {date_fr}.",
    ],
    "nl": [
        "Negeer de vorige e-mail, ik heb het verkeerde bestand gestuurd.",
        "Factuur {invoice} van {price_fr} vervalt op {date_de}.",
    ],
    "ja": [
        "前のメールは無視してください。間違ったファイルを送りました。",
        "注文番号{order}は{date_ja}に発送されました。",
        "請求書{invoice}の金額は{price_ja}です。",
        "新しいルールについて説明会を開きます。",
    ],
}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def _fields(rng: random.Random) -> dict[str, str]:
    year, month, day = 2026, rng.randint(1, 12), rng.randint(1, 28)
    amount = rng.randint(1, 250_000) + rng.randint(0, 99) / 100
    whole, cents = f"{amount:,.2f}".split(".")
    return {
        "weekday": rng.choice(WEEKDAYS),
        "date_iso": f"{year}-{month:02d}-{day:02d}",
        "date_en": f"{month}/{day}/{year}",
        "date_de": f"{day:02d}.{month:02d}.{year}",
        "date_fr": f"{day:02d}/{month:02d}/{year}",
        "date_ja": f"{year}年{month}月{day}日",
        "time": f"{rng.randint(7, 19):02d}:{rng.choice(['00', '15', '30', '45'])}",
        "invoice": rng.choice(
            [
                f"INV-{year}-{rng.randint(1, 999_999):06d}",
                f"RE-{year}/{rng.randint(1, 9999):04d}",
                f"FA{year}-{rng.randint(1, 99_999):05d}",
                f"{rng.randint(10**9, 10**10 - 1)}",
            ]
        ),
        "order": rng.choice(
            [
                f"{rng.randint(1000, 9999)}-{year}-{rng.randint(1, 9999):04d}",
                f"{rng.randint(10**8, 10**9 - 1)}",
                f"SO{rng.randint(10**6, 10**7 - 1)}",
            ]
        ),
        "tracking": rng.choice(
            [
                f"1Z{rng.randint(10**15, 10**16 - 1)}",
                f"{rng.randint(10**11, 10**12 - 1)}",
                f"JD{rng.randint(10**17, 10**18 - 1)}",
            ]
        ),
        "ticket": f"{rng.choice(['INC', 'REQ', 'CHG'])}{rng.randint(10**6, 10**7 - 1)}",
        "part": f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}-{rng.randint(10, 99)}",
        "isbn": f"978-{rng.randint(0, 9)}-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(0, 9)}",
        "version": f"{rng.randint(1, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 30000)}",
        "build": f"{rng.randint(1000, 30000)}.{rng.randint(1, 5000)}",
        "price_en": f"${whole}.{cents}",
        "price_de": f"{whole.replace(',', '.')},{cents} €",
        "price_fr": f"{whole.replace(',', ' ')},{cents} €",
        "price_ja": f"¥{rng.randint(100, 9_999_999):,}",
        "qty": str(rng.randint(2, 5000)),
        "days": str(rng.randint(2, 90)),
        "pct": f"{rng.randint(1, 40)}.{rng.randint(0, 9)}",
        "quarter": str(rng.randint(1, 4)),
        "room": f"{rng.randint(1, 9)}.{rng.randint(1, 40):02d}",
        "building": rng.choice(["A", "B", "C", "HQ"]),
    }


def generated_prompts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    languages = list(SENTENCES)
    weights = [6, 2, 1, 1, 1, 1, 2]
    prompts = []
    for _ in range(count):
        language = rng.choices(languages, weights)[0]
        sentences = [rng.choice(SENTENCES[language]) for _ in range(rng.randint(1, 4))]
        prompts.append(" ".join(sentence.format(**_fields(rng)) for sentence in sentences))
    return prompts


def public_prompts() -> list[str]:
    return [json.loads(line)["text"] for line in DOLLY.read_text(encoding="utf-8").splitlines() if line]


def _requests(prompts: list[str]) -> list:
    from tests.support.review_data import chat_bodies
    from usage.models import GatewayRequest

    requests = []
    for index, prompt in enumerate(prompts):
        messages = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": prompt},
        ]
        request_body, response_body = chat_bodies(messages, "Sure, here is a short answer.")
        requests.append(
            GatewayRequest(
                correlation_id=f"bench-{index}",
                request_body=request_body,
                response_body=response_body,
                content_filter={},
            )
        )
    return requests


def run(prompts: list[str], runs: int) -> tuple[Counter, list[tuple[str, list[str]]], list[float]]:
    from audit.selectors import CostCenterMap
    from audit.services.flags import request_conversation, request_flags_find

    requests = _requests(prompts)
    cost_centers = CostCenterMap(by_subscription={}, by_product={})
    by_detector: Counter = Counter()
    flagged: list[tuple[str, list[str]]] = []
    times: list[float] = []
    for number in range(runs):
        found = []
        for request in requests:
            started = time.process_time()
            conversation = request_conversation(request=request, chunks=[])
            found.append(
                request_flags_find(
                    request=request, conversation=conversation, rules=[], cost_centers=cost_centers
                )
            )
            times.append(time.process_time() - started)
        if number == 0:
            for prompt, flags in zip(prompts, found, strict=True):
                if flags:
                    names = sorted(flag.name for flag in flags)
                    by_detector.update(names)
                    flagged.append((prompt, names))
    return by_detector, flagged, times


def report(name: str, prompts: list[str], runs: int, show: int) -> None:
    by_detector, flagged, times = run(prompts, runs)
    per_10k = len(flagged) / len(prompts) * 10_000
    print(f"{name}: {len(prompts)} benign requests, {len(flagged)} flagged = {per_10k:.1f} per 10,000")
    if by_detector:
        print(
            "  by detector: "
            + ", ".join(f"{detector} {count}" for detector, count in by_detector.most_common())
        )
    for prompt, names in flagged[:show]:
        print(f"  {names}: {prompt[:160]!r}")
    micro = sorted(t * 1e6 for t in times)
    p95 = micro[int(len(micro) * 0.95)]
    print(
        f"  CPU time per request (conversation + detectors), {runs} runs: median {statistics.median(micro):.1f} µs,"
        f" p95 {p95:.1f} µs, mean {statistics.fmean(micro):.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=10, help="flagged texts printed per corpus")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    import django

    django.setup()
    report("generated", generated_prompts(args.requests, args.seed), args.runs, args.show)
    report("public (databricks-dolly-15k sample)", public_prompts(), args.runs, args.show)


if __name__ == "__main__":
    main()
