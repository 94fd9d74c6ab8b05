"""Rule lexicons (German and English) for the categories a model alone cannot learn from the
data we have: safety, legal and churn threats, outages, questions, praise, spam/ads, urgency.

Each entry is a regex over the lower-cased text, anchored at word starts so that stems
catch inflections ("kündig" -> "kündige", "kündigung"). Kept deliberately small and
precise: these are the signals that make a post P1/P2.
"""

from __future__ import annotations

import re

__all__ = ["CATEGORIES", "MARKERS", "RULES", "URGENT", "rule_hits"]

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
        r"fällt (?:\w+ ){0,3}aus\b",  # separable verb: "fällt schon wieder aus"
        r"fallen (?:\w+ ){0,3}aus\b",
        r"fiel(?:en)? (?:\w+ ){0,3}aus\b",
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
        r"stürzt (?:\w+ ){0,6}ab\b",
        r"(?:nimmt|nehmen|akzeptiert|akzeptieren) (?:keine|kein) (?:\w+ )?(?:karten?|geld|bargeld|münzen|scheine)",
        r"(?:website|seite|app|server) (?:ist )?down",
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
    # Unambiguous breached expectations; the complaint model covers the subtle rest.
    "complaint": _rx(
        r"charged (?:me )?twice",
        r"double[- ]charged",
        r"doppelt (?:abgebucht|belastet|berechnet|bezahlt)",
        r"refund me",
        r"(?:want|need) (?:a|my) refund",
        r"mein geld zurück",
        r"not accepting",
        r"(?:is|are|was|were) not working",
        r"(?:does|do|did)n'?t work",
        r"(?:does|do|did) not work",
        r"stopped working",
        r"funktionier\w* (?:schon wieder |immer noch |einfach )?nicht",
        r"geht (?:schon wieder |immer noch )?nicht mehr",
        r"kaputt",
        r"defekt",
        r"never arrived",
        r"nie angekommen",
        r"unacceptable",
        r"inakzeptabel",
        r"unverschämt",
        r"frechheit",
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
        r"(?:brauche|benötige|bitte um|um)(?= (?:\w+ )?hilfe)",
        r"hilfe\s*[!?]",
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
        r"need(?= (?:\w+ )?help)",
        r"help me",
        r"help\s*[!?]",
        r"\bdm\b",
        r"is my",
        r"are (?:you|the|my)",
        r"do you",
        r"does (?:the|my)",
        r"ist mein",
        r"sind meine",
        r"habt ihr",
        r"haben sie",
        # Follow-ups: a customer chasing an answer is a request, whatever else it says.
        r"bitte (?:\w+ ){0,2}um (?:eine )?(?:antwort|rückmeldung|rückruf|hilfe|klärung)",
        r"warte (?:\w+ ){0,3}auf (?:eine |ihre |eure |die )?(?:antwort|rückmeldung|erstattung)",
        r"(?:schon|bereits) (?:\w+ ){0,3}geschrieben",
        r"keine (?:antwort|rückmeldung|reaktion)",
        r"please (?:\w+ ){0,2}(?:answer|respond|reply|get back)",
        r"waiting for (?:a |an |your )?(?:answer|reply|response|refund)",
        r"already (?:wrote|written|emailed|e-mailed|tweeted|contacted|messaged)",
        r"no (?:answer|reply|response) (?:yet|so far|from)",
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
        r"newsletter",
        r"jetzt entdecken",
        r"discover now",
        r"partnership",
        r"kooperationsanfrage",
        r"(?:would|'d) love to (?:work|collaborate|partner) with you",
        r"media kit",
        r"guest post",
        r"sponsored (?:post|content)",
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

#: Markers that qualify the categories above rather than being categories themselves:
#: ``rumour`` (hearsay is not an outage report), ``crowd`` (a question to other readers is
#: not a question to the brand), ``reference`` (a booking, order or customer number: the
#: author wants their case handled), ``no_request`` (auto-replies and job applications that
#: reach a support mailbox but ask customer care for nothing).
MARKERS: dict[str, str] = {
    "rumour": _rx(
        r"gerücht",
        r"angeblich",
        r"soll(?:en)? (?:\w+ )?(?:streiken|gestreikt)",
        r"hört man",
        r"hab(?:e)? gehört",
        r"rumou?r",
        r"reportedly",
        r"allegedly",
        r"heard (?:that|there)",
        r"unconfirmed",
    ),
    "crowd": _rx(
        r"weiß jemand",
        r"kennt jemand",
        r"hat jemand",
        r"ist jemand",
        r"jemand (?:eine? |da )?(?:ahnung|erfahrung|infos?)",
        r"wer (?:fährt|kommt|geht|ist|hat|war|will|noch|auch|von euch)",
        r"umfrage",
        r"anyone (?:else|know|here|going|been|tried)",
        r"does anybody",
        r"anybody (?:else|know|here|going)",
        r"who(?:'s| is) (?:going|coming|in\b|joining)",
        r"who else",
        r"asking for a friend",
        r"\bpoll\b",
    ),
    "reference": _rx(
        r"(?:buchung|buchungsnummer|auftrag|auftragsnummer|bestellung|bestellnummer|"
        r"kundennummer|vorgangsnummer|ticketnummer|fahrkarte|reservierung|abo|rechnung) "
        r"(?:nr\.? |nummer )?[a-z]{0,4}-?\d{3,}",
        r"(?:booking|order|customer|ticket|case|reference|subscription|invoice|account) "
        r"(?:no\.? |number |nr\.? |#)?[a-z]{0,4}-?\d{3,}",
    ),
    "no_request": _rx(
        r"automatische antwort",
        r"abwesenheit",
        r"nicht im büro",
        r"out of (?:the )?office",
        r"auto-?reply",
        r"automatic reply",
        r"bewerbung",
        r"job application",
        r"applying for the (?:position|job|role)",
        r"my (?:cv|resume|résumé)\b",
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


_META = frozenset("\\()[]{}.*+?|^$")


def _split(alternatives: str) -> list[str]:
    """Split a regex on its top-level ``|``."""
    out: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(alternatives):
        ch = alternatives[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(alternatives[start:i])
            start = i + 1
        i += 1
    out.append(alternatives[start:])
    return out


def _expand(alt: str) -> list[tuple[str, bool]]:
    """``alt`` as alternatives that each start with literal characters: a leading
    ``(?:a|b)rest`` becomes ``arest``, ``brest`` (same order, same matches); a leading
    ``\\b`` is returned as a flag."""
    if alt.startswith(r"\b"):
        return [(a, True) for a, _ in _expand(alt[2:])]
    if alt.startswith("(?:"):
        depth, end = 0, 0
        while True:
            depth += (alt[end] == "(") - (alt[end] == ")")
            if depth == 0:
                break
            end += 1
        inner, rest = alt[3:end], alt[end + 1 :]
        if rest[:1] not in ("?", "*", "+", "{") and "(" not in inner:
            return [x for a in _split(inner) for x in _expand(a + rest)]
    return [(alt, False)]


def _literal_prefix(alt: str) -> str:
    i = 0
    while i < len(alt) and alt[i] not in _META:
        i += 1
    if i < len(alt) and alt[i] in "?*{":  # the last literal is quantified
        i -= 1
    return alt[: max(i, 0)]


def _compile_trie(
    groups: list[tuple[str, str]], capture: bool = True
) -> tuple[re.Pattern[str], list[str]]:
    """One regex for all lexicons, as a two-level trie on the first two (literal) letters.

    Python's ``re`` tries alternatives one after another at every word start; grouped by
    their first two letters it tries a handful instead of ~300 (3x faster). Alternatives
    with the same two letters keep their order, and alternatives with different ones
    cannot match at the same place: the hits are those of the plain alternation
    ``(?P<category>alt|...)|...`` (``tests/unit/relevance/test_categories.py`` checks).
    Returns the pattern and, per capturing group, its category; with ``capture=False`` the
    alternation as a pattern string without groups (the same matches, for :data:`_SCAN`).
    """
    tree: dict[str, dict[str, list[tuple[str, str]]]] = {}
    fallback: list[tuple[str, str]] = []
    for name, alternatives in groups:
        for alt in _split(alternatives):
            for body, boundary in _expand(alt):
                if len(_literal_prefix(body)) < 2:
                    fallback.append((name, (r"\b" if boundary else "") + body))
                    continue
                # \b before the first letter: no word character (not even "_") before it
                rest = (r"(?<!\w..)" if boundary else "") + body[2:]
                tree.setdefault(body[0], {}).setdefault(body[1], []).append((name, rest))
    names: list[str] = []
    firsts: list[str] = []
    for c1, sub in tree.items():
        seconds: list[str] = []
        for c2, items in sub.items():
            bodies: list[str] = []
            for name, rest in items:
                names.append(name)
                bodies.append(f"({rest})" if capture else f"(?:{rest})")
            seconds.append(re.escape(c2) + "(?:" + "|".join(bodies) + ")")
        firsts.append(re.escape(c1) + "(?:" + "|".join(seconds) + ")")
    for name, body in fallback:  # none in the shipped lexicons
        names.append(name)
        firsts.append(f"({body})" if capture else f"(?:{body})")
    if not capture:
        return re.compile("(?:" + "|".join(firsts) + ")"), names
    pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(firsts) + ")")
    if pattern.groups != len(names):
        raise ValueError("rule lexicons must not contain capturing groups")
    return pattern, names


_LEXICONS = [*RULES.items(), *MARKERS.items(), ("urgent", URGENT)]
_ALL, _GROUP_NAMES = _compile_trie(_LEXICONS)
# The scan for the next hit in one ``re`` call: lazily skip whole words (and one separator
# at a time), trying the lexicons only where a word can start. ``finditer`` over ``_ALL``
# tries every position and fails inside words on the look-behind; skipping the words in the
# regex takes 40% less time. The one group is the hit, the same alternative ``_ALL`` picks
# at that place (same alternation, without its ~300 groups, which the lazy repetition
# would save and restore at every word); ``_ALL.match`` at the hit then names its category.
#: Longer texts are scanned with ``_ALL.finditer``: the lazy repetition of ``_SCAN`` keeps
#: ~60 bytes of ``re`` state a word until the next hit (1 MB at this length).
_SCAN_MAX_CHARS = 20_000
_SCAN = re.compile(
    r"(?:[^\W_]*+[\W_])*?(?<![^\W_])(" + _compile_trie(_LEXICONS, capture=False)[0].pattern + ")"
)


def _lexicon_hits(lower: str) -> set[str]:
    """The categories of the hits of ``_ALL.finditer(lower)``, found with :data:`_SCAN`."""
    names = _GROUP_NAMES
    if len(lower) > _SCAN_MAX_CHARS:
        return {names[m.lastindex - 1] for m in _ALL.finditer(lower) if m.lastindex}
    hits: set[str] = set()
    scan = _SCAN.match
    name_at = _ALL.match
    pos = 0
    while (m := scan(lower, pos)) is not None:
        start, pos = m.span(1)
        hit = name_at(lower, start)
        if hit is not None and hit.lastindex:
            hits.add(names[hit.lastindex - 1])
        if pos == start:  # an empty hit (no shipped lexicon has one): move on like finditer
            pos += 1
    return hits


def rule_hits(text: str) -> set[str]:
    """Categories whose rule lexicon fires on ``text``, the :data:`MARKERS` found, and
    ``"urgent"`` if an urgency word occurs. One regex scan for all lexicons.

    Hearsay (``rumour``) cancels an outage report: "Streik-Gerüchte?" reports nothing.
    A ``?`` without a question phrase only adds the weak hit ``"question_mark"`` (and
    ``"question"``) unless the question is put to the crowd ("anyone else ...?", "wer
    fährt ...?"): such posts compete in the budget, they are not direct questions.
    """
    hits = _lexicon_hits(text.lower())
    if "rumour" in hits:
        hits.discard("outage_report")
    if "question" in hits:
        hits.add("question_phrase")
    elif "?" in text and "crowd" not in hits:
        hits.update(("question", "question_mark"))
    return hits
