"""A deterministic sample stream of raw envelopes (``mentionflow sample``).

Thousands of realistic posts in German and English about a fictional rail operator
(**RailCo**, the watched brand, see ``config/watchlist.sample.yaml``) and its competitor
(**SternExpress**), as the connectors would publish them: X/Twitter API v2 tweets with
expansions and DM events, Facebook page posts, comments and Messenger events, RFC 5322
e-mails. Most of it is noise (news, ads, retweets, chatter, praise, off-topic uses of the
same words); about 2% needs an answer (complaints, questions, outage reports, churn threats).
The brand answers some of them; some customers write on two or three channels about the same
booking (same name, e-mail and booking number), which is what the contact join merges.

Records are in event-time order over the ``hours`` before ``end``. With ``malformed_share``
a share of records is broken on purpose (invalid JSON, wrong types, missing fields, bad
timestamps, broken base64) for dead-letter tests; :class:`SampleRecord` says what each record
is meant to produce. Same arguments, same bytes: everything is drawn from one seeded
``random.Random``.
"""

from __future__ import annotations

import base64
import copy
import html
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline.envelope import RawEnvelope

__all__ = [
    "BRAND",
    "COMPETITOR",
    "MALFORMED_KINDS",
    "SampleRecord",
    "brand_mapping",
    "generate",
    "write_jsonl",
    "write_sample",
]

#: The watched brand as it appears on every network (matches config/watchlist.sample.yaml).
BRAND: dict[str, Any] = {
    "name": "RailCo",
    "twitter_handle": "RailCo",
    "twitter_id": "783214",
    "twitter_name": "RailCo Service",
    "facebook_page": "104512345678901",
    "mailboxes": ("service@railco.example", "support@railco.example"),
    "domain": "railco.example",
}
COMPETITOR: dict[str, Any] = {
    "name": "SternExpress",
    "twitter_handle": "SternExpress",
    "twitter_id": "6620011",
}

#: Ways a record is broken on purpose, and what the pipeline should report.
#: ``envelope``: the bytes are not a valid raw envelope (RawEnvelope.from_json fails);
#: any other value is the NormalizeError code.
MALFORMED_KINDS: dict[str, str] = {
    "invalid_json": "envelope",
    "broken_base64": "envelope",
    "missing_fetched_at": "envelope",
    "wrong_type": "invalid_payload",
    "missing_field": "missing_field",
    "bad_timestamp": "bad_timestamp",
}

TWITTER_EPOCH_MS = 1288834974657
BERLIN = timezone(timedelta(hours=1))


def brand_mapping() -> dict[str, list[str]]:
    """The brand's accounts in the form ``BrandAccounts.from_mapping`` takes."""
    return {
        "twitter": ["@" + BRAND["twitter_handle"], str(BRAND["twitter_id"])],
        "facebook": [str(BRAND["facebook_page"])],
        "email": list(BRAND["mailboxes"]),
    }


@dataclass(slots=True)
class SampleRecord:
    """One line of the sample and what it is meant to be.

    ``category``: ``noise``, ``action`` (needs an answer: every direct message and every
    direct question to the brand counts, as issue 4 says they always escalate), ``brand``
    (the brand's own post or
    reply) or ``malformed``. ``expect``: ``"ok"``, ``"envelope"`` or a NormalizeError code.
    ``mention_id`` is the id the valid record normalises to (None for malformed ones).
    """

    line: bytes
    category: str
    expect: str
    source: str
    type: str
    mention_id: str | None
    created_at: datetime
    persona: str | None = None
    malformed: str | None = None


# --------------------------------------------------------------------------- vocabulary

CITIES = [
    "Berlin",
    "Hamburg",
    "München",
    "Köln",
    "Frankfurt",
    "Stuttgart",
    "Düsseldorf",
    "Leipzig",
    "Dresden",
    "Hannover",
    "Nürnberg",
    "Bremen",
    "Mannheim",
    "Kassel",
    "Fulda",
    "Erfurt",
]
FIRST = [
    "Jana",
    "Lukas",
    "Anna",
    "Max",
    "Sophie",
    "Felix",
    "Laura",
    "Jonas",
    "Mia",
    "Paul",
    "Lea",
    "Tim",
    "Sarah",
    "David",
    "Emma",
    "Niklas",
    "Hannah",
    "Tobias",
    "Julia",
    "Mark",
    "Emily",
    "James",
    "Olivia",
    "Daniel",
    "Chloe",
    "Ahmet",
    "Elif",
    "Marco",
    "Giulia",
    "Piotr",
]
LAST = [
    "Krüger",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Richter",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "Sullivan",
    "Baker",
    "Wilson",
    "Taylor",
    "Yilmaz",
    "Rossi",
    "Nowak",
    "Lehmann",
    "Zimmermann",
]
MAIL_DOMAINS = ["example.de", "example.org", "example.com", "example.net", "mail.example"]

NOISE_DE = [
    "Heute mit dem {train} von {a} nach {b}, alles pünktlich. Geht doch, @{brand} 👍",
    "Schon krass, wie voll die Züge freitags sind. Ich lese jetzt einfach mein Buch.",
    "{brand} testet ab Dezember WLAN 2.0 in allen ICEs zwischen {a} und {b}. Mal sehen.",
    "Neuer Fahrplan bei {brand}: mehr Sprinter zwischen {a} und {b} ab dem 13.12.",
    "Stau auf der Autobahn A{n} bei {a}, zum Glück fahre ich heute Zug.",
    "Autobahn-Sperrung bei {a} am Wochenende \u2013 wer kann, nimmt die Bahn.",
    "Mein Sohn spielt Schach: Zug um Zug wird er besser. Nächster Zug: Turnier in {a}.",
    "Die Modelleisenbahn-Ausstellung in {a} war großartig, RailCon kann kommen!",
    "Kaffee im Bordbistro ist besser geworden, muss man auch mal sagen.",
    "Wer fährt am Samstag auch zum Spiel nach {a}? Treffen uns am Gleis {n}.",
    "Mit {competitor} nach {a} war echt entspannt, Preis war auch okay.",
    "Danke an die freundliche Zugbegleiterin im {train} heute, hat den Tag gerettet! #{brand}",
    "Umfrage: Zug oder Auto für die Fahrt nach {a}? Ich bin für Zug.",
    "Streik-Gerüchte bei {brand}? Weiß jemand was Genaues?",
    "Endlich Sitzplatzreservierung per App bei {brand}, hat super geklappt.",
    "Pendeln {a} \u2013 {b} jeden Tag, man gewöhnt sich an alles 😅",
    "Schöner Sonnenuntergang aus dem Zugfenster kurz vor {a} 🌅",
    "Artikel: Wie {brand} und {competitor} um Fernverkehrskunden kämpfen",
]
NOISE_EN = [
    "Took the {train} from {a} to {b} today, smooth ride and on time. Nice one @{brand}",
    "Anyone else think train travel in Germany is underrated? {a} to {b} in under 4 hours.",
    "{brand} announces new night trains between {a} and Vienna from next spring.",
    "Travel tip: book {brand} saver fares early, got {a} to {b} for 19.90.",
    "Road trip on the Autobahn tomorrow, no speed limit, wish me luck.",
    "Chess night: every move counts, especially the last one.",
    "Just finished a great podcast about railway history on the way to {a}.",
    "{competitor} or {brand} for {a} to {b}? Asking for a friend.",
    "The view between {a} and {b} never gets old.",
    "Shoutout to the {brand} staff in {a}, super helpful with my luggage today!",
    "Reading about the new {brand} fleet, looks impressive.",
    "Conference season: RailCon in {a} next week, who is going?",
]
PROMO = [
    "🚆 Jetzt Sparpreise sichern: {a} \u2013 {b} ab 17,90 € mit {brand}! https://www.railco.example/angebote",
    "Win 2 first class tickets! Follow us and retweet. #{brand} #giveaway",
    "Bis zu 50% Rabatt auf Reisekoffer \u2013 nur heute! https://shop.example/deal",
    "Gewinnspiel: Wir verlosen 3x zwei Tickets nach {a}. Einfach kommentieren!",
]
BRAND_POSTS_DE = [
    "Heute kommt es zwischen {a} und {b} wegen einer Weichenstörung zu Verspätungen. Wir bitten um Entschuldigung.",
    "Ab 13. Dezember gilt der neue Fahrplan. Alle Infos: https://www.railco.example/fahrplan",
    "Neu: Tickets jetzt auch per Apple Pay und Google Pay in der RailCo App.",
    "Bauarbeiten am Wochenende zwischen {a} und {b}: Bitte Reiseverbindung vorab prüfen.",
]
BRAND_REPLIES_DE = [
    "Das tut uns leid, {first}. Schreib uns bitte per DM deine Buchungsnummer, wir kümmern uns. ^{sig}",
    "Hallo {first}, danke für den Hinweis. Wir haben das an die Kollegen weitergegeben. ^{sig}",
    "Hallo {first}, die Erstattung ist veranlasst und sollte in 5\u20137 Tagen da sein. ^{sig}",
]
BRAND_REPLIES_EN = [
    "Sorry to hear that, {first}. Please DM us your booking number and we will look into it. ^{sig}",
    "Hi {first}, thanks for letting us know, we have passed this on to the team. ^{sig}",
]

ACTION_DE = {
    "complaint": [
        "@{brand} {train} nach {b} hat schon wieder {m} Minuten Verspätung, Anschluss weg. Buchung {order}. Wer erstattet mir das Hotel?",
        "@{brand} seit 3 Wochen warte ich auf die Erstattung für Buchung {order}. Das ist eine Frechheit!",
        "Zug ausgefallen, keine Durchsage, kein Ersatz. Danke für nichts @{brand}. Buchung {order}",
        "@{brand} mir wurde die Fahrkarte {order} doppelt abgebucht. Bitte um Rückerstattung!",
    ],
    "question": [
        "@{brand} kann ich mit meinem Sparpreis {order} auch einen früheren Zug nach {b} nehmen?",
        "@{brand} Hallo, wie bekomme ich eine Rechnung für meine Buchung {order}? Finde nichts in der App.",
        "@{brand} gilt meine Reservierung {order} noch, wenn der {train} ausfällt?",
    ],
    "outage": [
        "@{brand} eure App stürzt seit heute Morgen bei jeder Buchung ab. Geht bei allen so?",
        "@{brand} Fahrkartenautomat in {a} Hbf nimmt keine Karten mehr, Schlange bis zur Tür.",
        "@{brand} Website down? Checkout hängt bei Zahlung, Buchung {order} kam nicht durch.",
    ],
    "churn": [
        "@{brand} Ich kündige meine RailCard zum nächsten Termin. Nach dem dritten Ausfall reicht es. Kundennummer {order}",
        "@{brand} Nach diesem Monat wechsle ich zu {competitor}. Bitte Abo {order} kündigen.",
    ],
}
ACTION_EN = {
    "complaint": [
        "@{brand} the {train} to {b} is {m} minutes late again and I missed my connection. Booking {order}. Who pays for my hotel?",
        "@{brand} still waiting for my refund for booking {order} after 3 weeks. Unacceptable.",
        "@{brand} I was charged twice for ticket {order}, please refund me!",
    ],
    "question": [
        "@{brand} can I use my saver fare {order} on an earlier train to {b}?",
        "@{brand} how do I get an invoice for booking {order}? Can't find it in the app.",
    ],
    "outage": [
        "@{brand} is your app down? It crashes every time I try to pay. Booking {order}",
        "@{brand} ticket machines at {a} station are not accepting cards, huge queue.",
    ],
    "churn": [
        "@{brand} I'm cancelling my RailCard, third cancelled train this month. Customer no {order}",
        "@{brand} switching to {competitor} after this. Please cancel subscription {order}.",
    ],
}
#: Comments under the brand's page posts; the question is put to the brand.
COMMENT_QUESTION = "Wann kommt das nach {a}?"
COMMENTS = ["Super, danke für die Info!", "👍👍", "Great news!", COMMENT_QUESTION]
FOLLOW_UP_DE = (
    "Ich hatte schon auf {channel} geschrieben, Buchung {order}. Bitte endlich um Antwort!"
)
FOLLOW_UP_EN = "I already wrote to you on {channel} about booking {order}. Please answer!"

MAIL_NOISE = [
    (
        "Automatische Antwort: Abwesenheit",
        "Ich bin bis zum {d}.12. nicht im Büro und habe keinen Zugriff auf meine E-Mails.",
        "de",
    ),
    (
        "Out of office",
        "I am out of the office until December {d} with limited access to e-mail.",
        "en",
    ),
    (
        "Newsletter Reisewelt Dezember",
        "Die schönsten Weihnachtsmärkte in {a} und {b} \u2013 jetzt entdecken!",
        "de",
    ),
    ("Danke!", "Vielen Dank für die schnelle Hilfe letzte Woche, alles hat geklappt.", "de"),
    ("Thank you", "Just wanted to say thanks, the refund arrived today. Great service.", "en"),
    (
        "Ihre Bewerbung",
        "Anbei meine Bewerbungsunterlagen für die Stelle als Zugbegleiter in {a}.",
        "de",
    ),
    (
        "Partnership proposal",
        "We are a travel blog with 200k readers and would love to work with you.",
        "en",
    ),
]


# --------------------------------------------------------------------------- personas


@dataclass(slots=True)
class Persona:
    key: str
    first: str
    name: str
    email: str
    handle: str
    twitter_id: str
    facebook_id: str
    order: str
    lang: str
    followers: int


class _Builder:
    """All random draws go through ``self.rng``; ids are counters or derived from it."""

    def __init__(self, seed: int, end: datetime, hours: float) -> None:
        self.rng = random.Random(seed)
        self.end = end
        self.start = end - timedelta(hours=hours)
        self.seq = 0
        self.personas = [self._persona(i) for i in range(400)]
        page = BRAND["facebook_page"]
        self.page_posts = [
            (f"{page}_{self.rng.randrange(10**14, 10**15)}", self.start - timedelta(hours=i + 1))
            for i in range(6)
        ]

    # ids and times -------------------------------------------------------------
    def _persona(self, i: int) -> Persona:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        plain = (
            last.lower().replace("ü", "ue").replace("ä", "ae").replace("ö", "oe").replace("ß", "ss")
        )
        lang = "en" if first in ("Mark", "Emily", "James", "Olivia", "Daniel", "Chloe") else "de"
        return Persona(
            key=f"p{i:03d}",
            first=first,
            name=f"{first} {last}",
            email=f"{first.lower()}.{plain}{rng.choice(['', str(rng.randrange(10, 99))])}@{rng.choice(MAIL_DOMAINS)}",
            handle=f"{first.lower()}_{plain[:4]}{rng.randrange(10, 999)}",
            twitter_id=str(rng.randrange(10**8, 10**10)),
            facebook_id=str(rng.randrange(10**15, 10**16)),
            order=f"RC-{rng.randrange(10000, 99999)}",
            lang=lang,
            followers=int(rng.paretovariate(1.2) * 40),
        )

    def tweet_id(self, at: datetime) -> str:
        self.seq += 1
        ms = int(at.timestamp() * 1000)
        return str(((ms - TWITTER_EPOCH_MS) << 22) | (self.seq % 4096))

    def digits(self, n: int) -> str:
        return str(self.rng.randrange(10 ** (n - 1), 10**n))

    def fetched(self, at: datetime) -> datetime:
        return at + timedelta(seconds=self.rng.uniform(2, 90))

    def fill(self, template: str, persona: Persona | None = None) -> str:
        rng = self.rng
        a, b = rng.sample(CITIES, 2)
        return template.format(
            brand=BRAND["twitter_handle"],
            competitor=COMPETITOR["name"],
            a=a,
            b=b,
            n=rng.randrange(1, 20),
            m=rng.choice([15, 25, 40, 55, 70, 95, 120]),
            d=rng.randrange(2, 28),
            train=f"{rng.choice(['ICE', 'IC', 'RE', 'RB'])} {rng.randrange(100, 2999)}",
            order=persona.order if persona else f"RC-{rng.randrange(10000, 99999)}",
            first=persona.first if persona else "",
            sig=rng.choice(["mk", "js", "ab", "tl"]),
        )

    def stranger(self) -> Persona:
        return self.rng.choice(self.personas[100:])

    # payload builders ----------------------------------------------------------
    def tweet(
        self,
        at: datetime,
        author: Persona | None,
        text: str,
        *,
        reply_to: tuple[str, str, str] | None = None,
        retweet_of: str | None = None,
    ) -> RawEnvelope:
        """``reply_to`` is (tweet id, user id, username)."""
        tid = self.tweet_id(at)
        if author is None:
            user = {
                "id": BRAND["twitter_id"],
                "username": BRAND["twitter_handle"],
                "name": BRAND["twitter_name"],
                "verified": True,
                "public_metrics": {"followers_count": 98213, "following_count": 120},
            }
        else:
            user = {
                "id": author.twitter_id,
                "username": author.handle,
                "name": author.name,
                "verified": False,
                "public_metrics": {"followers_count": author.followers, "following_count": 180},
            }
        data: dict[str, Any] = {
            "id": tid,
            "text": html.escape(text, quote=False)[:280],
            "author_id": user["id"],
            "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "conversation_id": tid,
            "public_metrics": {
                "retweet_count": self.rng.randrange(0, 5),
                "reply_count": 0,
                "like_count": self.rng.randrange(0, 30),
                "quote_count": 0,
            },
        }
        includes: dict[str, Any] = {"users": [user]}
        mentions = []
        for word in text.split():
            if word.startswith("@") and len(word) > 1:
                name = word[1:].rstrip(".,:!?")
                uid = {
                    BRAND["twitter_handle"]: BRAND["twitter_id"],
                    COMPETITOR["twitter_handle"]: COMPETITOR["twitter_id"],
                }.get(name, self.digits(9))
                start = text.find(word)
                mentions.append(
                    {"start": start, "end": start + len(name) + 1, "username": name, "id": uid}
                )
        entities: dict[str, Any] = {}
        if mentions:
            entities["mentions"] = mentions
        if "https://" in text:
            url = text[text.find("https://") :].split()[0]
            short = f"https://t.co/{self.digits(10)}"
            data["text"] = data["text"].replace(url, short)
            entities["urls"] = [
                {"start": 0, "end": 23, "url": short, "expanded_url": url, "display_url": url[8:]}
            ]
        if entities:
            data["entities"] = entities
        if reply_to is not None:
            parent_id, parent_user, parent_name = reply_to
            data["in_reply_to_user_id"] = parent_user
            data["referenced_tweets"] = [{"type": "replied_to", "id": parent_id}]
            data["conversation_id"] = parent_id
            if parent_user != user["id"]:
                includes["users"].append({"id": parent_user, "username": parent_name})
        if retweet_of is not None:
            data["referenced_tweets"] = [{"type": "retweeted", "id": retweet_of}]
            data["conversation_id"] = retweet_of
        data["lang"] = "de" if any(c in text for c in "äöüß") else "en"
        return RawEnvelope.wrap(
            "twitter",
            "twitter.tweet",
            {"data": data, "includes": includes},
            connector="twitter.search",
            native_id=tid,
            fetched_at=self.fetched(at),
            context={"query": "RailCo OR @RailCo OR SternExpress"},
        )

    def dm(self, at: datetime, author: Persona, text: str) -> RawEnvelope:
        eid = self.tweet_id(at)
        brand_id = BRAND["twitter_id"]
        event = {
            "id": eid,
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": author.twitter_id,
            "dm_conversation_id": f"{brand_id}-{author.twitter_id}",
            "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "participant_ids": [brand_id, author.twitter_id],
        }
        users = [
            {
                "id": author.twitter_id,
                "username": author.handle,
                "name": author.name,
                "verified": False,
                "public_metrics": {"followers_count": author.followers},
            }
        ]
        return RawEnvelope.wrap(
            "twitter",
            "twitter.dm",
            {"data": event, "includes": {"users": users}},
            connector="twitter.dm",
            native_id=eid,
            fetched_at=self.fetched(at),
        )

    def fb_post(self, at: datetime, author: Persona | None, text: str) -> RawEnvelope:
        page = BRAND["facebook_page"]
        pid = f"{page}_{self.digits(15)}"
        sender = (
            {"id": page, "name": BRAND["name"]}
            if author is None
            else {"id": author.facebook_id, "name": author.name}
        )
        payload: dict[str, Any] = {
            "id": pid,
            "message": text,
            "created_time": at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "from": sender,
            "permalink_url": f"https://www.facebook.com/{page}/posts/{pid.split('_')[1]}",
        }
        if author is not None:
            payload["to"] = {"data": [{"id": page, "name": BRAND["name"]}]}
        return RawEnvelope.wrap(
            "facebook",
            "facebook.post",
            payload,
            connector="facebook.page",
            native_id=pid,
            fetched_at=self.fetched(at),
            context={"page_id": page},
        )

    def fb_comment(
        self, at: datetime, author: Persona | None, text: str, parent: tuple[str, str] | None = None
    ) -> RawEnvelope:
        """``parent`` is (comment id, author id) for a reply to a comment."""
        page = BRAND["facebook_page"]
        post_id, _ = self.rng.choice(self.page_posts)
        cid = f"{post_id.split('_')[1]}_{self.digits(16)}"
        sender = (
            {"id": page, "name": BRAND["name"]}
            if author is None
            else {"id": author.facebook_id, "name": author.name}
        )
        payload: dict[str, Any] = {
            "id": cid,
            "message": text,
            "created_time": at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "from": sender,
            "permalink_url": (
                f"https://www.facebook.com/{page}/posts/{post_id.split('_')[1]}"
                f"?comment_id={cid.split('_')[1]}"
            ),
        }
        if parent is not None:
            payload["parent"] = {"id": parent[0], "from": {"id": parent[1]}}
        return RawEnvelope.wrap(
            "facebook",
            "facebook.comment",
            payload,
            connector="facebook.page",
            native_id=cid,
            fetched_at=self.fetched(at),
            context={"page_id": page, "post_id": post_id, "post_from_id": page},
        )

    def messenger(self, at: datetime, author: Persona, text: str) -> RawEnvelope:
        mid = f"m_{base64.urlsafe_b64encode(self.rng.randbytes(18)).decode().rstrip('=')}"
        event = {
            "sender": {"id": author.facebook_id},
            "recipient": {"id": BRAND["facebook_page"]},
            "timestamp": int(at.timestamp() * 1000),
            "message": {"mid": mid, "text": text},
        }
        return RawEnvelope.wrap(
            "facebook",
            "facebook.messenger",
            event,
            connector="facebook.webhook",
            native_id=mid,
            fetched_at=self.fetched(at),
            context={"page_id": BRAND["facebook_page"], "sender_name": author.name},
        )

    def mail(
        self,
        at: datetime,
        author: Persona | None,
        subject: str,
        body: str,
        *,
        to: str | None = None,
        in_reply_to: str | None = None,
        quote: str | None = None,
    ) -> tuple[RawEnvelope, str]:
        rng = self.rng
        msg = EmailMessage()
        domain = author.email.split("@")[1] if author else BRAND["domain"]
        msgid = f"{self.digits(12)}.{self.digits(6)}@{domain}"
        sender_name = author.name if author else "RailCo Kundenservice"
        sender_mail = author.email if author else BRAND["mailboxes"][0]
        msg["From"] = f"{sender_name} <{sender_mail}>"
        msg["To"] = to or rng.choice(BRAND["mailboxes"])
        msg["Subject"] = subject
        msg["Date"] = format_datetime(at.astimezone(BERLIN))
        msg["Message-ID"] = f"<{msgid}>"
        if in_reply_to:
            msg["In-Reply-To"] = f"<{in_reply_to}>"
            msg["References"] = f"<{in_reply_to}>"
        text = body
        if author is not None and rng.random() < 0.4:
            text += "\n\n" + (
                "Von meinem iPhone gesendet" if author.lang == "de" else "Sent from my iPhone"
            )
        if quote:
            header = (
                f"Am {at:%d.%m.%Y} um 09:12 schrieb RailCo Kundenservice <{BRAND['mailboxes'][0]}>:"
                if author is None or author.lang == "de"
                else f"On {at:%a, %b %d, %Y} at 9:12 AM RailCo Support <{BRAND['mailboxes'][1]}> wrote:"
            )
            text += "\n\n" + header + "\n" + "\n".join("> " + q for q in quote.split("\n"))
        style = rng.random()
        if style < 0.3 and author is not None and author.lang == "de" and _fits_latin1(text):
            msg.set_content(text, charset="iso-8859-1")
        else:
            msg.set_content(text)
        if style > 0.6:
            markup = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n"))
            msg.add_alternative(f"<html><body>{markup}</body></html>", subtype="html")
        if author is not None and rng.random() < 0.08:
            msg.add_attachment(
                rng.randbytes(64),
                maintype="application",
                subtype="pdf",
                filename=rng.choice(["Rechnung.pdf", "Ticket.pdf", "receipt.pdf"]),
            )
        for part in msg.walk():
            if part.is_multipart():
                # The generator would draw boundaries from the global random module.
                part.set_boundary(f"=_{self.digits(16)}")
        env = RawEnvelope.wrap(
            "email",
            "email.rfc822",
            msg.as_bytes(),
            connector="email.imap",
            native_id=msgid,
            fetched_at=self.fetched(at),
            context={"mailbox": str(msg["To"])},
        )
        return env, msgid


def _fits_latin1(text: str) -> bool:
    try:
        text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- assembly


@dataclass(slots=True)
class _Item:
    at: datetime
    envelope: RawEnvelope
    category: str
    persona: str | None = None


def _random_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = (end - start).total_seconds()
    return start + timedelta(seconds=rng.uniform(0, span))


def _items(b: _Builder, count: int) -> list[_Item]:
    rng = b.rng
    items: list[_Item] = []
    # Cases that need an answer: ~2% of the records, each with its follow-ups and replies.
    # Follow-ups on a second channel bring the share of records that need action to ~2%.
    n_action = max(1, round(count * 0.015))
    customers = b.personas[:100]
    actions = 0
    while actions < n_action and len(items) < count:
        persona = customers[actions % len(customers)]
        kind = rng.choices(["complaint", "question", "outage", "churn"], [5, 3, 2, 1])[0]
        templates = (ACTION_DE if persona.lang == "de" else ACTION_EN)[kind]
        text = b.fill(rng.choice(templates), persona)
        at = _random_time(rng, b.start, b.end - timedelta(minutes=30))
        channel = rng.choices(["twitter", "facebook", "messenger", "dm", "email"], [5, 2, 1, 1, 2])[
            0
        ]
        if channel == "twitter":
            env = b.tweet(at, persona, text)
        elif channel == "facebook":
            env = b.fb_comment(at, persona, text.replace("@RailCo ", ""))
        elif channel == "messenger":
            env = b.messenger(at, persona, text.replace("@RailCo ", ""))
        elif channel == "dm":
            env = b.dm(at, persona, text.replace("@RailCo ", ""))
        else:
            subject = {
                "complaint": "Beschwerde",
                "question": "Frage zu meiner Buchung",
                "outage": "Störung",
                "churn": "Kündigung",
            }[kind]
            if persona.lang == "en":
                subject = {
                    "complaint": "Complaint",
                    "question": "Question about my booking",
                    "outage": "Service problem",
                    "churn": "Cancellation",
                }[kind]
            env, _ = b.mail(
                at,
                persona,
                f"{subject} {persona.order}",
                text.replace("@RailCo ", "Hallo,\n\n" if persona.lang == "de" else "Hello,\n\n")
                + f"\n\n{'Viele Grüße' if persona.lang == 'de' else 'Regards'}\n{persona.name}",
            )
        first = env
        items.append(_Item(at, env, "action", persona.key))
        actions += 1
        # The same customer again on another channel (the contact join merges these).
        if rng.random() < 0.35 and len(items) < count:
            later = at + timedelta(minutes=rng.uniform(10, 25))
            follow = (FOLLOW_UP_DE if persona.lang == "de" else FOLLOW_UP_EN).format(
                channel="Twitter" if channel == "twitter" else channel.capitalize(),
                order=persona.order,
            )
            if channel == "email" or rng.random() < 0.5:
                env = b.tweet(later, persona, "@RailCo " + follow)
            else:
                env, _ = b.mail(
                    later,
                    persona,
                    f"{persona.order}: keine Antwort"
                    if persona.lang == "de"
                    else f"{persona.order}: no answer",
                    follow,
                )
            items.append(_Item(later, env, "action", persona.key))
        # The brand answers about half of them, on the same channel.
        if channel == "twitter" and rng.random() < 0.5 and len(items) < count:
            parent = first
            answer_at = at + timedelta(minutes=rng.uniform(5, 28))
            replies = BRAND_REPLIES_DE if persona.lang == "de" else BRAND_REPLIES_EN
            text = f"@{persona.handle} " + b.fill(rng.choice(replies), persona)
            reply = b.tweet(
                answer_at,
                None,
                text,
                reply_to=(str(parent.native_id), persona.twitter_id, persona.handle),
            )
            items.append(_Item(answer_at, reply, "brand", None))

    # Everything else is noise.
    while len(items) < count:
        at = _random_time(rng, b.start, b.end)
        roll = rng.random()
        who = b.stranger()
        if roll < 0.50:
            pool = NOISE_DE if who.lang == "de" and rng.random() < 0.75 else NOISE_EN
            env = b.tweet(at, who, b.fill(rng.choice(pool)))
        elif roll < 0.60:
            source_text = b.fill(rng.choice(NOISE_DE + PROMO))
            env = b.tweet(
                at,
                who,
                f"RT @verkehrsnews: {source_text}"[:280],
                retweet_of=b.tweet_id(at - timedelta(minutes=5)),
            )
        elif roll < 0.64:
            env = b.tweet(at, who, b.fill(rng.choice(PROMO)))
        elif roll < 0.67:
            text = b.fill(rng.choice(BRAND_POSTS_DE))
            env = b.tweet(at, None, text) if rng.random() < 0.6 else b.fb_post(at, None, text)
            items.append(_Item(at, env, "brand", None))
            continue
        elif roll < 0.77:
            env = b.fb_post(at, who, b.fill(rng.choice(NOISE_DE + NOISE_EN)))
        elif roll < 0.90:
            template = rng.choice(NOISE_DE + NOISE_EN + COMMENTS)
            env = b.fb_comment(at, who, b.fill(template))
            if template == COMMENT_QUESTION:
                # a question to the brand under its own post: issue 4 says it always escalates
                items.append(_Item(at, env, "action", who.key))
                continue
        elif roll < 0.92:
            env = b.messenger(at, who, rng.choice(["Hallo", "Danke!", "👍", "Hi there", "ok"]))
            # "Direct messages always escalate" (issue 4): someone has to read and answer it
            items.append(_Item(at, env, "action", who.key))
            continue
        else:
            subject, body, _lang = rng.choice(MAIL_NOISE)
            env, _ = b.mail(at, who, b.fill(subject), b.fill(body))
        items.append(_Item(at, env, "noise", who.key))
    return items[:count]


def _break(rng: random.Random, env: RawEnvelope) -> tuple[bytes, str]:
    """Corrupt ``env``; returns the line and the malformed kind."""
    kinds = list(MALFORMED_KINDS)
    if env.payload_bytes is None:
        kinds.remove("broken_base64")
    kind = rng.choice(kinds)
    record = env.to_dict()
    if kind == "invalid_json":
        line = env.to_json()
        return line[: rng.randrange(10, max(11, len(line) - 2))], kind
    if kind == "broken_base64":
        record["payload_b64"] = "%%not*base64%%" + record["payload_b64"][:20]
    elif kind == "missing_fetched_at":
        del record["fetched_at"]
    elif env.type == "email.rfc822":
        raw = env.payload_bytes or b""
        header = {"wrong_type": None, "missing_field": b"From:", "bad_timestamp": b"Date:"}[kind]
        if header is None:  # JSON where bytes belong
            del record["payload_b64"]
            record["payload"] = {"subject": "not a mail"}
            kind = "missing_field"
        else:
            lines = raw.split(b"\n")
            if kind == "missing_field":
                lines = [ln for ln in lines if not ln.startswith(header)]
            else:
                lines = [
                    b"Date: sometime last week" if ln.startswith(header) else ln for ln in lines
                ]
            record["payload_b64"] = base64.b64encode(b"\n".join(lines)).decode()
    else:
        payload = copy.deepcopy(record["payload"])
        target = payload.get("data", payload)
        fields: dict[str, tuple[str, Any]]
        if env.type == "facebook.messenger":
            fields = {
                "wrong_type": ("message", "hello"),
                "missing_field": ("sender", None),
                "bad_timestamp": ("timestamp", "gestern 10 Uhr"),
            }
        else:
            time_key = "created_time" if env.source == "facebook" else "created_at"
            text_key = "message" if env.source == "facebook" else "text"
            fields = {
                "wrong_type": (text_key, 12345),
                "missing_field": ("id", None),
                "bad_timestamp": (time_key, rng.choice(["31.02.2026 25:61", "", "1700000000"])),
            }
        key, value = fields[kind]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
        if kind == "bad_timestamp" and value == "":
            kind = "missing_field"  # an empty timestamp reads as absent
        record["payload"] = payload
    return orjson.dumps(record), kind


def generate(
    count: int = 5000,
    seed: int = 42,
    *,
    malformed_share: float = 0.0,
    end: datetime | None = None,
    hours: float = 6.0,
) -> list[SampleRecord]:
    """``count`` sample records in event-time order ending at ``end`` (UTC, default now).

    Deterministic for equal arguments. ``malformed_share`` (0..1) of the records, exactly
    ``round(count * malformed_share)``, are broken on purpose.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if not 0.0 <= malformed_share <= 1.0:
        raise ValueError("malformed_share must be between 0 and 1")
    if end is None:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    builder = _Builder(seed, end.astimezone(UTC), hours)
    items = sorted(_items(builder, count), key=lambda item: item.at)
    broken = set(builder.rng.sample(range(len(items)), round(len(items) * malformed_share)))
    records: list[SampleRecord] = []
    for i, item in enumerate(items):
        env = item.envelope
        if i in broken:
            line, kind = _break(builder.rng, env)
            records.append(
                SampleRecord(
                    line,
                    "malformed",
                    MALFORMED_KINDS[kind],
                    env.source,
                    env.type,
                    None,
                    item.at,
                    item.persona,
                    kind,
                )
            )
        else:
            mid = f"{env.source}:{_native_id(env)}"
            records.append(
                SampleRecord(
                    env.to_json(),
                    item.category,
                    "ok",
                    env.source,
                    env.type,
                    mid,
                    item.at,
                    item.persona,
                )
            )
    return records


def _native_id(env: RawEnvelope) -> str:
    return env.native_id or ""


def write_jsonl(records: list[SampleRecord], out: Any) -> int:
    """Write one record a line to the binary stream ``out``; returns the number of lines."""
    for record in records:
        out.write(record.line + b"\n")
    return len(records)


def iter_lines(records: list[SampleRecord]) -> Iterator[bytes]:
    for record in records:
        yield record.line


def write_sample(
    path: str | Path,
    count: int = 5000,
    seed: int = 42,
    *,
    malformed_share: float = 0.0,
    end: datetime | None = None,
    hours: float = 6.0,
) -> int:
    """Generate and write the sample to ``path`` (JSONL); returns the number of records."""
    records = generate(count, seed, malformed_share=malformed_share, end=end, hours=hours)
    Path(path).write_bytes(b"".join(record.line + b"\n" for record in records))
    return len(records)
