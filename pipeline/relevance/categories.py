"""Rule lexicons (German and English) for the categories a model alone cannot learn from the
data we have: safety, legal and churn threats, outages, questions, praise, spam/ads, urgency.

Each entry is a regex over the lower-cased text, anchored at word starts so that stems
catch inflections ("kündig" -> "kündige", "kündigung"). Kept deliberately small and
precise: these are the signals that make a post P1/P2.
"""

from __future__ import annotations

import re

__all__ = ["CATEGORIES", "RULES", "URGENT", "rule_hits"]

#: Every category a decision can carry, most severe first.
CATEGORIES = (
    "safety_issue",
    "legal_threat",
    "outage_report",
    "churn_threat",
    "complaint",
    "question",
    "praise",
    "feedback",
    "spam",
    "other",
)


def _rx(*alternatives: str) -> str:
    return "|".join(alternatives)


#: Category -> regex alternatives (lower case), each anchored at a word start.
RULES: dict[str, str] = {
    "safety_issue": _rx(
        r"verletz",
        r"unfall",
        r"feuer\b",
        r"brand\b",
        r"rauch",
        r"notarzt",
        r"krankenwagen",
        r"gefährlich",
        r"lebensgefahr",
        r"belästig",
        r"bedroh",
        r"angegriffen",
        r"übergriff",
        r"entgleis",
        r"injur",
        r"accident",
        r"\bfire\b",
        r"smoke",
        r"ambulance",
        r"dangerous",
        r"unsafe",
        r"harass",
        r"assault",
        r"derail",
        r"food poisoning",
        r"lebensmittelvergift",
        r"explod",
        r"gas leak",
        r"allergic reaction",
        r"allergische",
    ),
    "legal_threat": _rx(
        r"anwalt",
        r"rechtsanwalt",
        r"verklag",
        r"klage\b",
        r"anzeige erstatt",
        r"strafanzeige",
        r"verbraucherzentrale",
        r"schlichtungsstelle",
        r"dsgvo",
        r"lawyer",
        r"attorney",
        r"\bsue\b",
        r"suing",
        r"lawsuit",
        r"legal action",
        r"small claims",
        r"\bgdpr\b",
        r"ombudsman",
        r"trading standards",
        r"\bbbb\b",
        r"chargeback",
    ),
    "outage_report": _rx(
        r"störung",
        r"ausfall",
        r"fällt aus",
        r"fallen aus",
        r"ausgefallen",
        r"geht nicht",
        r"funktioniert nicht",
        r"funktioniert (?:schon wieder |wieder |immer noch )?nicht",
        r"kein netz",
        r"kein internet",
        r"nicht erreichbar",
        r"stellwerk",
        r"oberleitung",
        r"signalstörung",
        r"streik",
        r"zugausfall",
        r"app (?:ist )?(?:down|abgestürzt)",
        r"\boutage",
        r"is down\b",
        r"are down\b",
        r"went down",
        r"not working",
        r"doesn'?t work",
        r"won'?t load",
        r"can'?t (?:log ?in|connect|access)",
        r"no (?:signal|service|internet)",
        r"server error",
        r"\berror\b",
        r"crash",
        r"cancell?ed",
        r"delayed",
        r"stuck on",
    ),
    "churn_threat": _rx(
        r"kündig",
        r"wechsel(?:e|n)? (?:zu|zur|zum)",
        r"nie wieder",
        r"letzte mal",
        r"nie mehr",
        r"ab jetzt nur noch",
        r"bahncard (?:zurück|gekündigt)",
        r"\bcancel(?:l?ing)? my",
        r"switch(?:ing)? to",
        r"never (?:again|fly|use|buy|shop|order)",
        r"last time i",
        r"take my business",
        r"done with you",
        r"goodbye",
        r"leaving you",
        r"close my account",
    ),
    "question": _rx(
        r"wie kann",
        r"wie lange",
        r"wann kommt",
        r"wann fährt",
        r"kann ich",
        r"können sie",
        r"könnt ihr",
        r"wo (?:ist|finde|bekomme)",
        r"gibt es",
        r"hilfe\b",
        r"bitte um",
        r"how (?:do|can|long)",
        r"when (?:will|is|does)",
        r"can (?:i|you)",
        r"could you",
        r"is there",
        r"where (?:is|can|do)",
        r"why (?:is|are|does|do|did)",
        r"any update",
        r"please help",
        r"\bhelp\b",
        r"\bdm\b",
        r"is my",
        r"are (?:you|the|my)",
        r"do you",
        r"does (?:the|my)",
        r"ist mein",
        r"sind meine",
        r"habt ihr",
        r"haben sie",
    ),
    "praise": _rx(
        r"danke",
        r"vielen dank",
        r"super\b",
        r"toll",
        r"klasse\b",
        r"großartig",
        r"lob\b",
        r"pünktlich",
        r"freundlich",
        r"thank",
        r"thx",
        r"great",
        r"awesome",
        r"amazing",
        r"love (?:it|you|this)",
        r"excellent",
        r"well done",
        r"kudos",
        r"best\b",
    ),
    "spam": _rx(
        r"gewinnspiel",
        r"jetzt kaufen",
        r"rabattcode",
        r"gutscheincode",
        r"% rabatt",
        r"follow (?:me|back)",
        r"click here",
        r"promo code",
        r"discount code",
        r"giveaway",
        r"\bbuy now",
        r"free followers",
        r"crypto",
        r"\bnsfw\b",
        r"onlyfans",
    ),
    "feedback": _rx(
        r"vorschlag",
        r"wäre schön",
        r"wünsche mir",
        r"könnte man",
        r"anregung",
        r"sollte(?:t|n)? ",
        r"suggest",
        r"it would be (?:nice|great)",
        r"wish (?:you|there)",
        r"please add",
        r"feature request",
        r"you should",
    ),
}

#: Words that raise the priority by one step.
URGENT = _rx(
    r"sofort",
    r"dringend",
    r"notfall",
    r"asap",
    r"urgent",
    r"emergency",
    r"immediately",
    r"right now",
    r"jetzt sofort",
    r"seit stunden",
    r"for hours",
    r"still waiting",
    r"warte seit",
)


_ALL = re.compile(
    r"(?<![^\W_])(?:"
    + "|".join(f"(?P<{name}>{alts})" for name, alts in [*RULES.items(), ("urgent", URGENT)])
    + ")"
)


def rule_hits(text: str) -> set[str]:
    """Categories whose rule lexicon fires on ``text`` (a direct ``?`` counts as question),
    plus ``"urgent"`` if an urgency word occurs. One regex scan for all lexicons."""
    hits = {m.lastgroup for m in _ALL.finditer(text.lower()) if m.lastgroup}
    if "?" in text:
        hits.add("question")
    return hits
