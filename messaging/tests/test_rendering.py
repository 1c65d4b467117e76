"""The sandboxed renderer and SMS segment counting (no database)."""

import pytest

from messaging.rendering import (
    PLACEHOLDERS,
    RenderError,
    _parsed,
    fill_disclosure,
    render,
    sms_segments,
    template_errors,
)


def _context(**values):
    base = dict.fromkeys(PLACEHOLDERS, "x")
    base.update(values)
    return base


def test_known_placeholders_are_accepted_with_or_without_spaces():
    assert template_errors("Hi {{first_name}}, you owe {{ balance }}.") == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Hi {{ firstname }}", "Unknown placeholder {{ firstname }}"),
        ("{{ balance|upper }}", "not a placeholder"),
        ("{{ debtor.first_name }}", "not a placeholder"),
        ("{% if balance %}pay{% endif %}", "Template syntax '{%' is not allowed"),
        ("{# a comment #}", "Template syntax '{#' is not allowed"),
        ("stray }} braces", "Template syntax '}}' is not allowed"),
        ("Hi {first_name}", "write {{ first_name }}"),
        ("{{ __class__ }}", "Unknown placeholder"),
    ],
)
def test_anything_but_a_known_placeholder_is_an_error(text, fragment):
    errors = template_errors(text)
    assert errors, text
    assert any(fragment in e for e in errors), errors


def test_render_substitutes_in_one_pass_so_values_cannot_pull_in_other_values():
    out = render(
        "Hi {{ first_name }}, {{ balance }}",
        _context(first_name="{{ balance }}", balance="$10.00"),
    )
    assert out == "Hi {{ balance }}, $10.00"


def test_render_refuses_unknown_placeholders_and_missing_values_with_render_error():
    with pytest.raises(RenderError, match="Unknown placeholder"):
        render("{{ nope }}", _context())
    with pytest.raises(RenderError, match=r"No value for \{\{ due_date \}\}"):
        render("Due {{ due_date }}", _context(due_date=""))
    with pytest.raises(RenderError):
        render("{% load static %}", _context())


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters cost two septets
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # "€" is never split across two
        ("é" * 160, "GSM-7", 160, 1),  # é is in the GSM alphabet
        ("ê" * 70, "UCS-2", 70, 1),  # ê is not: the whole text becomes UCS-2
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # surrogate pairs count two units
    ],
)
def test_sms_segments_gsm7_and_ucs2(text, encoding, units, segments):
    result = sms_segments(text)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)


def test_segment_description_names_encoding_and_capacity():
    assert sms_segments("a" * 200).describe() == "GSM-7, 200 characters, 2 segments (153 each)"
    assert sms_segments("ü€ç").encoding == "UCS-2"


@pytest.mark.parametrize(
    ("text", "value", "filled"),
    [
        (
            "Interest: {x}. Costs: none.",
            "None is charged.",
            "Interest: None is charged. Costs: none.",
        ),
        (
            "Interest: {x}. Costs: none.",
            "None is charged",
            "Interest: None is charged. Costs: none.",
        ),
        ("Interest: {x}", "None is charged.", "Interest: None is charged."),  # no stop after
        ("{x}, then more.", "Acme Inc.", "Acme Inc., then more."),  # a comma keeps it
        ("Ends {x}.", "and so on...", "Ends and so on..."),
    ],
)
def test_a_value_ending_a_sentence_does_not_double_the_texts_full_stop(text, value, filled):
    assert fill_disclosure(text, {"x": value}) == filled


def test_no_break_spaces_give_way_when_that_alone_makes_an_sms_gsm_7():
    from messaging.rendering import sms_gsm_spaces

    german = "Hallo Isidor, 1.326,38\u00a0€ sind offen. Antworten Sie STOP."
    assert sms_segments(german).encoding == "UCS-2"
    plain = sms_gsm_spaces(german)
    assert plain == german.replace("\u00a0", " ") and sms_segments(plain).encoding == "GSM-7"
    french = "Bonjour, 1\u202f326,38\u00a0€ restent dus."
    assert sms_gsm_spaces(french) == "Bonjour, 1 326,38 € restent dus."
    # Already GSM-7, or UCS-2 whatever the spaces: left as it is.
    assert sms_gsm_spaces("Pay $12.50 now.") == "Pay $12.50 now."
    needs_ucs2 = "Vous êtes redevable de 12,50\u00a0€."
    assert sms_gsm_spaces(needs_ucs2) == needs_ucs2


def test_a_text_is_parsed_once_and_filled_for_each_debtor():
    text = "Dear {{ first_name }}, {{ balance }} is owed to {{ creditor_name }}."
    render(text, _context())  # parsed here, or earlier in this process
    before = _parsed.cache_info()
    first = render(text, _context(first_name="Ana", balance="€1,00", creditor_name="Acme"))
    second = render(text, _context(first_name="Bo", balance="$2.00", creditor_name="Beta"))
    after = _parsed.cache_info()
    assert (first, second) == (
        "Dear Ana, €1,00 is owed to Acme.",
        "Dear Bo, $2.00 is owed to Beta.",
    )
    assert after.hits - before.hits == 2 and after.misses == before.misses


def test_errors_come_in_the_order_of_the_text_whatever_names_are_allowed():
    text = "{{ a.b }} {{ nope }} {% x %} {first_name}"
    assert [e.split(" ")[0] for e in template_errors(text)] == [
        "{{a.b}}", "Unknown", "Template", "{first_name}",
    ]  # fmt: skip
    assert template_errors(text, allowed={"nope": ""})[1].startswith("Template")
    with pytest.raises(RenderError, match="is not a placeholder"):
        render(text, _context())
