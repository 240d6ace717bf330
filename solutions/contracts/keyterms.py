"""Key terms of a contract, found by patterns and normalised: parties, dates, renewal, notice
period, governing law, amounts and liability caps.

Each term keeps the exact [start, end) offsets of the text it was read from, so the page can
highlight it. Dates normalise to ISO 8601, periods to days or months, amounts to a currency
code and a decimal number.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

MONTHS = {name: number for number, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
     ("december", "dec")], start=1) for name in names}
MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
YEAR = r"(?P<year>(?:19|20)\d{2})"
DATE_PATTERNS = [
    re.compile(rf"\b{MONTH}\s+{DAY},?\s+{YEAR}\b", re.I),  # June 8, 2010
    re.compile(rf"\b{DAY}(?:\s+day)?(?:\s+of)?\s+{MONTH},?\s+{YEAR}\b", re.I),  # 8 June 2010, 8th day of June, 2010
    re.compile(r"\b(?P<year>(?:19|20)\d{2})-(?P<month>\d{1,2})-(?P<day>\d{1,2})\b"),  # 2010-06-08
    re.compile(r"\b(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>(?:19|20)\d{2})\b"),  # 06/08/2010 (US order)
]

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "one hundred twenty": 120,
    "one hundred eighty": 180, "one hundred and eighty": 180, "one hundred and twenty": 120,
}
NUMBER_WORD = "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
# "thirty (30)", "thirty", "30", "(30)"
QUANTITY = rf"(?P<quantity>(?:(?:{NUMBER_WORD})\s*\(\s*\d+\s*\)|\d+|(?:{NUMBER_WORD})))"
UNIT = r"(?P<unit>business\s+days?|calendar\s+days?|days?|weeks?|months?|years?)"
PERIOD = re.compile(rf"\b{QUANTITY}\s*(?:-\s*)?{UNIT}", re.I)
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
UNIT_MONTHS = {"day": 1 / 30, "week": 7 / 30, "month": 1, "year": 12}

CURRENCY_SYMBOLS = {"$": "USD", "us$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
CURRENCY_CODES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "CNY", "RMB", "INR", "HKD", "SGD")
SCALE = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "k": 1_000, "m": 1_000_000, "mm": 1_000_000, "bn": 1_000_000_000}
AMOUNT = re.compile(
    r"(?:(?P<symbol>US\$|\$|€|£|¥)\s?|\b(?P<code>" + "|".join(CURRENCY_CODES) + r")\s?)"
    r"(?P<number>\d{1,3}(?:[,.]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s*(?P<scale>thousand|million|billion|bn|mm|m|k)\b)?"
    r"|(?P<number2>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<scale2>thousand|million|billion)?\s*"
    r"(?P<code2>" + "|".join(CURRENCY_CODES) + r"|dollars|euros|pounds)\b",
    re.I,
)
GOVERNING_LAW = re.compile(
    r"govern(?:ed|s)?\s+(?:by|under)[^.;]{0,80}?laws?\s+of\s+(?:the\s+)?(?:(?:State|Commonwealth|Province)\s+of\s+)?"
    r"(?P<place>[A-Z][A-Za-z.]*(?:\s+(?:of\s+)?[A-Z][A-Za-z.]*){0,4})",
)
PARTY_INTRO = re.compile(r"\b(?:by\s+and\s+)?between\s+(?P<parties>.{5,800}?)(?:\.\s|;|\bWHEREAS\b|\bRECITALS\b|\n\n)", re.S)
ENTITY_SUFFIX = re.compile(r"\b(?:Inc|Incorporated|Corp|Corporation|LLC|L\.L\.C|Ltd|Limited|LLP|LP|PLC|GmbH|AG|S\.A|N\.V|B\.V|Co|Company)\b\.?")


@dataclass
class KeyTerm:
    kind: str  # party, agreement_date, effective_date, expiration_date, renewal_term, notice_period,
    # governing_law, amount, liability_cap
    value: str  # normalised: ISO date, "30" days, "USD 1000000", a jurisdiction, a party name
    text: str  # the document text it was read from
    start: int
    end: int
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "text": self.text, "start": self.start, "end": self.end, "detail": self.detail}


def normalise_date(text: str) -> str | None:
    """ISO date of "June 8, 2010", "8th day of June, 2010", "2010-06-08", "06/08/2010"; or None."""
    for pattern in DATE_PATTERNS:
        match = pattern.search(text)
        if match:
            return _iso(match)
    return None


def _iso(match: re.Match) -> str | None:
    month = match.group("month")
    month_number = int(month) if month.isdigit() else MONTHS.get(month.lower().rstrip("."))
    try:
        return date(int(match.group("year")), month_number, int(match.group("day"))).isoformat()
    except (TypeError, ValueError):
        return None


def find_dates(text: str, start: int = 0, end: int | None = None) -> list[tuple[str, int, int]]:
    """(ISO date, start, end) of every date in text[start:end], in order."""
    end = len(text) if end is None else end
    found: dict[int, tuple[str, int, int]] = {}
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text, start, end):
            iso = _iso(match)
            if iso and not any(s <= match.start() < e for _, s, e in found.values()):
                found[match.start()] = (iso, match.start(), match.end())
    return [found[k] for k in sorted(found)]


def parse_quantity(text: str) -> int | None:
    """30 from "thirty (30)", "thirty", "30" or "(30)"."""
    digits = re.search(r"\d+", text)
    if digits:
        return int(digits.group())
    return NUMBER_WORDS.get(re.sub(r"\s+", " ", text.strip().lower()))


def parse_period(text: str) -> tuple[int, str] | None:
    """(quantity, unit) of the first period in text: "thirty (30) days" -> (30, "day")."""
    match = PERIOD.search(text)
    if not match:
        return None
    quantity = parse_quantity(match.group("quantity"))
    unit = match.group("unit").lower().split()[-1].rstrip("s")
    return (quantity, unit) if quantity is not None else None


def period_days(quantity: int, unit: str) -> int:
    return round(quantity * UNIT_DAYS[unit])


def parse_amount(text: str) -> tuple[str, Decimal] | None:
    """(currency code, amount) of the first amount: "$1,000,000" -> ("USD", 1000000)."""
    match = AMOUNT.search(text)
    return _amount(match) if match else None


def _amount(match: re.Match) -> tuple[str, Decimal] | None:
    if match.group("number") is not None:
        number, scale = match.group("number"), match.group("scale")
        currency = CURRENCY_SYMBOLS.get((match.group("symbol") or "").lower()) or (match.group("code") or "").upper()
    else:
        number, scale = match.group("number2"), match.group("scale2")
        code = match.group("code2").upper()
        currency = {"DOLLARS": "USD", "EUROS": "EUR", "POUNDS": "GBP"}.get(code, code)
    currency = "CNY" if currency == "RMB" else currency
    # "1.000.000" (continental thousands) vs "2.5": dots are thousands separators only in groups of 3.
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", number):
        number = number.replace(".", "")
    else:
        number = number.replace(",", "")
    try:
        value = Decimal(number) * SCALE.get((scale or "").lower(), 1)
    except InvalidOperation:
        return None
    return currency, value


def _format_amount(currency: str, value: Decimal) -> str:
    value = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
    return f"{currency} {value}"


def find_amounts(text: str, start: int = 0, end: int | None = None) -> list[KeyTerm]:
    terms = []
    for match in AMOUNT.finditer(text, start, len(text) if end is None else end):
        parsed = _amount(match)
        if parsed:
            currency, value = parsed
            terms.append(KeyTerm("amount", _format_amount(currency, value), match.group(), match.start(), match.end(),
                                 {"currency": currency, "amount": str(value)}))
    return terms


def _sentences(text: str, spans: list[tuple[int, int]] | None) -> list[tuple[int, int]]:
    if spans is not None:
        return spans
    from solutions.contracts.segmentation import segment

    return [(s.start, s.end) for s in segment(text).sentences]


def _add_years(day: str, years: int, months: int = 0) -> str:
    parsed = date.fromisoformat(day)
    total = parsed.month - 1 + months
    year, month = parsed.year + years + total // 12, total % 12 + 1
    try:
        return parsed.replace(year=year, month=month).isoformat()
    except ValueError:  # 29 February or the 31st of a short month: the month's last day
        return (date(year, month % 12 + 1, 1) if month < 12 else date(year + 1, 1, 1)).fromordinal(
            (date(year, month % 12 + 1, 1) if month < 12 else date(year + 1, 1, 1)).toordinal() - 1).isoformat()


def find_parties(text: str) -> list[KeyTerm]:
    """Party names from the preamble ("between A, a Delaware corporation, and B ...")."""
    match = PARTY_INTRO.search(text, 0, min(len(text), 6000))
    if not match:
        return []
    body_start = match.start("parties")
    body = match.group("parties")
    terms = []
    # Parties are separated by ", and" / " and " at the top level (outside parentheses).
    depth, piece_start, pieces = 0, 0, []
    for index, char in enumerate(body):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and re.match(r",?\s+and\s+", body[index:]) and (index == 0 or body[index - 1] != "&"):
            pieces.append((piece_start, index))
            piece_start = index + re.match(r",?\s+and\s+", body[index:]).end()
    pieces.append((piece_start, len(body)))
    for start, end in pieces:
        piece = body[start:end]
        name_match = re.match(
            r"\s*(?:the\s+)?(?P<name>[A-Z0-9][^,(\n]{1,120}?(?:,\s*(?:Inc|LLC|L\.L\.C|Ltd|Corp|N\.A|S\.A|LLP|L\.P)\b\.?)?)\s*(?:,|\(|$)",
            piece)
        if not name_match or not any(c.isupper() for c in name_match.group("name")):
            continue
        name = name_match.group("name").strip(" \"“”")
        if ENTITY_SUFFIX.search(piece) is None and len(name.split()) > 8:
            continue
        s = body_start + start + name_match.start("name")
        e = s + len(name_match.group("name").rstrip())
        defined = re.search(r"\(\s*(?:the\s+)?[\"“]([^\"”]{1,60})[\"”]", piece)
        terms.append(KeyTerm("party", name, text[s:e], s, e, {"defined_as": defined.group(1) if defined else ""}))
    return terms[:6]


def extract_key_terms(text: str, sentence_spans: list[tuple[int, int]] | None = None) -> list[KeyTerm]:
    """Every key term of a contract, in a fixed kind order; at most one of each date kind."""
    spans = _sentences(text, sentence_spans)
    terms = find_parties(text)
    by_kind: dict[str, KeyTerm] = {}
    term_years: tuple[int, str] | None = None
    amounts: list[KeyTerm] = []
    for start, end in spans:
        sentence = text[start:end]
        lowered = sentence.lower()
        dates = find_dates(text, start, end)
        if dates:
            iso, s, e = dates[0]
            if "effective date" in lowered or "effective as of" in lowered or "shall become effective" in lowered:
                by_kind.setdefault("effective_date", KeyTerm("effective_date", iso, text[s:e], s, e))
            if re.search(r"\b(dated|made|entered into|as of)\b", lowered) and start < len(text) // 5 + 3000:
                by_kind.setdefault("agreement_date", KeyTerm("agreement_date", iso, text[s:e], s, e))
            if re.search(r"\b(expire|expiration|terminate on|until)\b", lowered):
                iso_last, s_last, e_last = dates[-1]
                by_kind.setdefault("expiration_date", KeyTerm("expiration_date", iso_last, text[s_last:e_last], s_last, e_last))
        if re.search(r"\b(renew|renewal|extend)", lowered):
            for match in PERIOD.finditer(text, start, end):
                quantity, unit = parse_quantity(match.group("quantity")), match.group("unit").lower().split()[-1].rstrip("s")
                if quantity is None:
                    continue
                after = text[match.end() : match.end() + 40].lower()
                before = text[max(start, match.start() - 60) : match.start()].lower()
                if re.match(r"[\s'\u2019]*(?:prior|advance|notice|written notice|before|in advance)", after) or re.search(r"notice\W+(?:of\s+)?(?:at least\s+)?$", before):
                    days = period_days(quantity, unit)
                    by_kind.setdefault("notice_period", KeyTerm("notice_period", str(days), match.group(), match.start(),
                                                                match.end(), {"days": days}))
                elif unit in ("year", "month") and re.search(r"(successive|additional|renewal|further)", before[-30:] + after[:20]):
                    months = round(quantity * UNIT_MONTHS[unit])
                    by_kind.setdefault("renewal_term", KeyTerm("renewal_term", str(months), match.group(), match.start(),
                                                               match.end(), {"months": months}))
        elif re.search(r"\b(term of this agreement|initial term)\b", lowered) and term_years is None:
            period = PERIOD.search(text, start, end)
            if period and period.group("unit").lower().rstrip("s") in ("year", "month"):
                term_years = (parse_quantity(period.group("quantity")) or 0, period.group("unit").lower().rstrip("s"))
        law = GOVERNING_LAW.search(sentence)
        if law and "governing_law" not in by_kind:
            place = re.sub(r"\s+", " ", law.group("place")).rstrip(".")
            place = re.split(r"\s+(?:without|excluding|and|applicable|in|as|to)\b", place)[0]
            s = start + law.start("place")
            by_kind["governing_law"] = KeyTerm("governing_law", place, text[s : s + len(place)], s, s + len(place))
        sentence_amounts = find_amounts(text, start, end)
        amounts.extend(sentence_amounts)
        if sentence_amounts and "liabilit" in lowered and re.search(r"(exceed|\bcap\b|limited to|maximum)", lowered):
            cap = sentence_amounts[0]
            by_kind.setdefault("liability_cap", KeyTerm("liability_cap", cap.value, cap.text, cap.start, cap.end, cap.detail))
    if "expiration_date" not in by_kind and term_years and term_years[0]:
        start_term = by_kind.get("effective_date") or by_kind.get("agreement_date")
        if start_term is not None:
            years, unit = term_years
            end_day = _add_years(start_term.value, years if unit == "year" else 0, years if unit == "month" else 0)
            by_kind["expiration_date"] = KeyTerm("expiration_date", end_day, start_term.text, start_term.start, start_term.end,
                                                 {"derived_from": f"{years} {unit} term from {start_term.value}"})
    order = ["agreement_date", "effective_date", "expiration_date", "renewal_term", "notice_period", "governing_law", "liability_cap"]
    terms.extend(by_kind[kind] for kind in order if kind in by_kind)
    terms.extend(amounts)
    return terms
