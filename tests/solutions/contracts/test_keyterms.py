"""Key terms: dates, periods and amounts normalise; terms found in a contract keep offsets."""

from decimal import Decimal

import pytest

from solutions.contracts.keyterms import (
    extract_key_terms,
    normalise_date,
    parse_amount,
    parse_period,
    parse_quantity,
)


@pytest.mark.parametrize(("text", "iso"), [
    ("June 8, 2010", "2010-06-08"),
    ("as of Sept. 1st, 2021", "2021-09-01"),
    ("8 June 2010", "2010-06-08"),
    ("this 12th day of March, 2019", "2019-03-12"),
    ("2024-02-29", "2024-02-29"),
    ("on 07/04/2022", "2022-07-04"),
    ("February 30, 2020", None),
    ("no date here", None),
])
def test_dates_normalise_to_iso(text, iso):
    assert normalise_date(text) == iso


@pytest.mark.parametrize(("text", "expected"), [("thirty (30)", 30), ("sixty", 60), ("90", 90), ("(45)", 45), ("forty-five", 45)])
def test_quantities_in_words_and_digits(text, expected):
    assert parse_quantity(text) == expected


def test_periods():
    assert parse_period("within thirty (30) days of notice") == (30, "day")
    assert parse_period("for one (1) year") == (1, "year")
    assert parse_period("ninety (90) calendar days") == (90, "day")


@pytest.mark.parametrize(("text", "currency", "amount"), [
    ("$1,000,000", "USD", Decimal(1_000_000)),
    ("USD 2.5 million", "USD", Decimal(2_500_000)),
    ("€ 1.000.000", "EUR", Decimal(1_000_000)),
    ("£250,000.50", "GBP", Decimal("250000.50")),
    ("5,000 dollars", "USD", Decimal(5000)),
    ("EUR 3m", "EUR", Decimal(3_000_000)),
])
def test_amounts_normalise_to_currency_and_number(text, currency, amount):
    assert parse_amount(text) == (currency, amount)


CONTRACT = (
    'This Supply Agreement is entered into as of January 15, 2020 (the "Effective Date") by and between '
    'Acme Widgets, Inc., a Delaware corporation ("Acme"), and Beta Parts GmbH, a German company ("Beta").\n\n'
    "The initial term of this Agreement is five (5) years from the Effective Date.\n\n"
    "This Agreement shall automatically renew for successive two (2) year periods unless either party "
    "gives notice of non-renewal at least ninety (90) days prior to the end of the then-current term.\n\n"
    "IN NO EVENT SHALL EITHER PARTY'S AGGREGATE LIABILITY EXCEED USD 500,000.\n\n"
    "This Agreement is governed by the laws of the State of California, without regard to conflicts of law.\n"
)


def test_key_terms_of_a_contract_with_offsets():
    terms = {}
    for term in extract_key_terms(CONTRACT):
        assert CONTRACT[term.start : term.end] == term.text
        terms.setdefault(term.kind, term)
    parties = [t.value for t in extract_key_terms(CONTRACT) if t.kind == "party"]
    assert parties == ["Acme Widgets, Inc.", "Beta Parts GmbH"]
    assert terms["effective_date"].value == "2020-01-15"
    assert terms["agreement_date"].value == "2020-01-15"
    assert terms["expiration_date"].value == "2025-01-15"
    assert terms["renewal_term"].value == "24"
    assert terms["notice_period"].value == "90"
    assert terms["governing_law"].value == "California"
    assert terms["liability_cap"].value == "USD 500000"
