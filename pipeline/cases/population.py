"""A synthetic customer population with ground truth, to score the contact join.

Customers write escalated contacts (minimal mention objects) on e-mail and social
networks. Most write once or on one channel; ``multi_channel`` of them write on two or
three channels within a day or two about one problem. What links a multi-channel
customer's contacts varies like in real life: a CRM link (40%), a quoted order number
(30%), or only the person's name and the issue text (30%). Noise: first names from a
Zipf-weighted list of ~90 (many people share them), surnames a quarter from the ~170 most
common (Zipf: Müller, Schmidt, ...) and the rest from a long tail, so full namesakes
exist; umlauts
spelled out, initials, typos, handles instead of names, upper-case and ``+tag`` e-mail
addresses, different people complaining about the same common problems the same day.

Deterministic for a seed. Plain Python (``random.Random``), no Kafka.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.timeutil import format_ts

__all__ = ["PairScores", "Population", "generate", "pairwise_scores"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Anna Maria Thomas Michael Andreas Stefan Christian Julia Laura Sarah Katharina Lisa "
    "Jürgen Jörg Björn Günter Käthe Sören Lena Lea Lukas Leon Finn Jonas Paul Felix Max "
    "Sophie Mia Emma Hannah Lina Marie Clara Tobias Daniel Markus Sebastian Alexander Sandra "
    "Nicole Petra Sabine Claudia Monika Ursula Helga Frank Uwe Klaus Dieter Wolfgang Mehmet "
    "Ayşe Fatma Ali Emre Elif Olga Natalia Piotr Agnieszka José María Luca Giulia Noah Elias "
    "Ben Emil Anton Theo Ida Ella Frieda Greta Mila Johanna Charlotte Amelie"
)
_LAST = _words(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
    "Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler "
    "Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn "
    "Schubert Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann "
    "Franke Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt "
    "Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich "
    "Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff "
    "Pfeiffer Y\u0131lmaz Kaya Demir Şahin Çelik Nowak Kowalski Wiśniewski Rossi Russo "
    "Ferrari Esposito García Fernández López Martínez Petrov Ivanova Novak Horváth Kovács "
    "Jansen Janssen Dekker Visser Smit Andersen Nielsen Hansen Berg Lindqvist Virtanen "
    "Korhonen Brenner Auer Eder Gruber Hofer Pichler Steiner Moser Mayr Egger Lechner Wimmer "
    "Reiter Bichler"
)
_DOMAINS = (
    "gmail.com",
    "web.de",
    "gmx.de",
    "t-online.de",
    "outlook.com",
    "posteo.de",
    "yahoo.de",
    "icloud.com",
    "freenet.de",
    "mailbox.org",
)
_SOCIAL = ("twitter", "facebook", "instagram", "mastodon", "bluesky", "reddit", "youtube")
_CITIES = (
    "Berlin",
    "Hamburg",
    "München",
    "Köln",
    "Frankfurt",
    "Leipzig",
    "Dresden",
    "Stuttgart",
    "Düsseldorf",
    "Bremen",
    "Hannover",
    "Nürnberg",
    "Bochum",
    "Kiel",
)
_DEVICES = ("Router", "Modem", "Receiver", "Handy", "Tablet", "Repeater", "Festnetztelefon")
_MODELS = (
    "FRITZ!Box 7590",
    "Speedport Smart 4",
    "Galaxy S23",
    "iPhone 15",
    "MagentaTV One",
    "Vodafone Station",
    "TP-Link Deco",
    "Pixel 8",
    "FRITZ!Repeater 3000",
)
_ISSUES = (
    (
        "outage",
        "Internet Störung seit {day} in {city}, {device} {model} blinkt rot",
        "{city}: kein Internet seit {day}, {model} blinkt rot, Störung?",
        "Immer noch Störung in {city}, {device} {model} ohne Verbindung seit {day}",
    ),
    (
        "billing",
        "Rechnung {month} doppelt abgebucht, {amount} Euro zweimal vom Konto",
        "Warum habt ihr {amount} Euro zweimal abgebucht? Rechnung {month} falsch",
        "{amount} Euro doppelt abgebucht im {month}, bitte Geld zurück",
    ),
    (
        "delivery",
        "Lieferung {model} nicht angekommen, Paket seit {day} verschollen",
        "Wo bleibt mein {model}? Paket seit {day} nicht da",
        "Paket mit {model} immer noch nicht geliefert, seit {day} warte ich",
    ),
    (
        "contract",
        "Kündigung bestätigt? Vertrag {model} läuft trotzdem weiter, {amount} Euro",
        "Kündigung ignoriert, Vertrag für {model} kostet weiter {amount} Euro",
        "Vertrag trotz Kündigung verlängert, {amount} Euro für {model}",
    ),
    (
        "device",
        "{device} {model} startet nicht mehr nach Update vom {day}",
        "Nach dem Update am {day} geht mein {model} nicht mehr an",
        "{model} kaputt seit Update {day}, {device} startet nicht",
    ),
)
_DAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
_MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)
_TRANSLIT = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ş": "s",
        "ç": "c",
        "\u0131": "i",
        "ś": "s",
        "é": "e",
        "á": "a",
        "í": "i",
    }
)


@dataclass
class Population:
    """Contacts in event-time order, CRM links, and the true customer of every contact."""

    mentions: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, int] = field(default_factory=dict)
    customers: int = 0
    multi_channel: int = 0


_STEMS = _words(
    "Kranz Wetz Bach Lind Ober Stein Rosen Eichen Falk Hage Mohr Wald Berg Brink Dorn Feld "
    "Gold Holz Kirch Lau Mark Neu Rot Sand Tann Wies Zell Brüg Kess Löff Har Mol Ritt Schwan "
    "Fried Kling Sturm Blum Buch Hein"
)
_MIDDLES = ("", "", "en", "el", "er", "s", "ing", "i", "o", "au")
_ENDINGS = _words(
    "berger mann ler er hoff kamp meier huber bach feld stein thal hausen inger ecker rich "
    "wald hagen brock dorf"
)


def _zipf(rng: random.Random, items: Sequence[str]) -> str:
    """Rank-weighted (Zipf, s = 1): the first items are the common ones."""
    weights = _ZIPF_CACHE.setdefault(len(items), [1.0 / (r + 1) for r in range(len(items))])
    return rng.choices(items, weights=weights)[0]


_ZIPF_CACHE: dict[int, list[float]] = {}


def _first_name(rng: random.Random) -> str:
    return _zipf(rng, _FIRST) if rng.random() < 0.6 else rng.choice(_FIRST)


def _last_name(rng: random.Random) -> str:
    # Common surnames (Müller, Schmidt, ...) for a quarter of the people, like in Germany
    # where the top hundred cover roughly that share; a long tail for the rest.
    if rng.random() < 0.25:
        return _zipf(rng, _LAST)
    return rng.choice(_STEMS) + rng.choice(_MIDDLES) + rng.choice(_ENDINGS)


def _noisy_name(rng: random.Random, first: str, last: str) -> str:
    roll = rng.random()
    if roll < 0.45:
        return f"{first} {last}"
    if roll < 0.60:
        return f"{first} {last}".translate(_TRANSLIT)
    if roll < 0.70:
        return f"{first[0]}. {last}"
    if roll < 0.80:
        return f"{last}, {first}"
    if roll < 0.90:
        word = last if len(last) > 4 else first
        i = rng.randrange(1, len(word) - 1)
        typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        return f"{first} {typo}" if word is last else f"{typo} {last}"
    return f"{first.lower()}_{last.lower()}".translate(_TRANSLIT)


def _email(rng: random.Random, first: str, last: str, n: int) -> str:
    f, l_ = first.lower().translate(_TRANSLIT), last.lower().translate(_TRANSLIT)
    local = rng.choice((f"{f}.{l_}", f"{f[0]}{l_}", f"{f}{n % 997}", f"{l_}.{f}{n % 89}"))
    return f"{local}.{n}@{rng.choice(_DOMAINS)}"


def _noisy_address(rng: random.Random, address: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        return address.upper()
    if roll < 0.25:
        local, _, domain = address.partition("@")
        return f"{local}+shop@{domain}"
    if roll < 0.30:
        return f" {address.capitalize()} "
    return address


def generate(
    customers: int = 100_000, *, multi_channel: float = 0.2, seed: int = 7, days: int = 60
) -> Population:
    """Generate a population; ``multi_channel`` is the share of customers on >= 2 channels."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    pop = Population(customers=customers)
    raw: list[tuple[datetime, dict[str, Any], int]] = []
    for n in range(customers):
        first, last = _first_name(rng), _last_name(rng)
        email = _email(rng, first, last, n)
        social_ids = {net: f"{rng.randrange(10**6, 10**12)}" for net in _SOCIAL}
        category, *templates = rng.choice(_ISSUES)
        details = {
            "day": rng.choice(_DAYS),
            "city": rng.choice(_CITIES),
            "device": rng.choice(_DEVICES),
            "model": rng.choice(_MODELS),
            "month": rng.choice(_MONTHS),
            "amount": f"{rng.randrange(9, 300)},{rng.randrange(10, 99)}",
        }
        order = f"A-{rng.randrange(10**5, 10**7)}"
        t0 = start + timedelta(seconds=rng.uniform(0, days * 86400))
        multi = rng.random() < multi_channel
        if multi:
            pop.multi_channel += 1
            channels = ["email", *rng.sample(_SOCIAL, rng.choice((1, 1, 2)))]
            rng.shuffle(channels)
            link = rng.random()
            crm = link < 0.4
            quote_number = 0.4 <= link < 0.7
        else:
            channel = "email" if rng.random() < 0.5 else rng.choice(_SOCIAL)
            channels = [channel] * rng.choice((1, 1, 1, 2))
            crm, quote_number = rng.random() < 0.3, False
        if crm:
            keys = [f"email:{email}"] + [
                f"{net}:{social_ids[net]}"
                for net in _SOCIAL
                if net in channels or rng.random() < 0.1
            ]
            pop.identities.append({"customer_id": f"K{n:07d}", "keys": keys})
        at = t0
        for i, channel in enumerate(channels):
            text = templates[i % len(templates)].format(**details)
            if quote_number and (i == 0 or rng.random() < 0.9):
                text += rng.choice(
                    (f" Bestellung {order}", f" order #{order}", f" Bestellnummer: {order}")
                )
            name = _noisy_name(rng, first, last)
            author: dict[str, Any]
            if channel == "email":
                author = {
                    "id": None,
                    "handle": None,
                    "name": name,
                    "email": _noisy_address(rng, email),
                }
            else:
                handle = f"{first.lower()}{rng.randrange(100)}".translate(_TRANSLIT)
                shown = name if rng.random() < 0.85 else handle
                author = {"id": social_ids[channel], "handle": handle, "name": shown, "email": None}
            mid = f"{channel}:{n}-{i}"
            raw.append(
                (
                    at,
                    {
                        "id": mid,
                        "source": channel,
                        "created_at": format_ts(at),
                        "text": text,
                        "author": author,
                        "category": category,
                    },
                    n,
                )
            )
            at += timedelta(minutes=rng.uniform(5, 36 * 60))
    raw.sort(key=lambda r: (r[0], r[1]["id"]))
    for _, mention, owner in raw:
        pop.mentions.append(mention)
        pop.truth[mention["id"]] = owner
    return pop


@dataclass(frozen=True, slots=True)
class PairScores:
    """Pairwise scores over contact pairs: predicted same case vs truly same customer."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def pairwise_scores(groups: list[list[str]], truth: dict[str, int]) -> PairScores:
    """Score predicted groups of mention ids (cases) against the true customer per mention."""

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    sizes: dict[int, int] = {}
    for owner in truth.values():
        sizes[owner] = sizes.get(owner, 0) + 1
    true_pairs = sum(pairs(k) for k in sizes.values())
    predicted = correct = 0
    for group in groups:
        predicted += pairs(len(group))
        counts: dict[int, int] = {}
        for mid in group:
            counts[truth[mid]] = counts.get(truth[mid], 0) + 1
        correct += sum(pairs(k) for k in counts.values())
    return PairScores(true_pairs, predicted, correct)
