"""The published CERS rules for Create User Account and the User Reference Number, at their
boundaries, with what the person reads in English and in French."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.i18n_helpers import says
from workflows import rules

# Create User Account

PROFILE = {
    "given_name": "Jean",
    "family_name": "Tremblay",
    "email": "jean.tremblay@example.ca",
    "telephone": "",
    "time_zone": "America/Halifax",
    "language": "fr",
}


def profile(**changes: str) -> dict[str, list[str]]:
    return rules.profile_errors(**{**PROFILE, **changes})


def test_a_complete_profile_passes() -> None:
    assert profile() == {}


@pytest.mark.parametrize("field", ["given_name", "family_name"])
def test_names_are_required_and_at_most_50_characters(field: str) -> None:
    for empty in ("", "   "):
        errors = profile(**{field: empty})
        assert list(errors) == [field]
        says(errors[field][0], "This field is required.", "Ce champ est obligatoire.")
    assert profile(**{field: "É" * 50}) == {}
    errors = profile(**{field: "É" * 51})
    assert list(errors) == [field]
    says(errors[field][0], "Use at most 50 characters.", "Utilisez au plus 50 caractères.")


@pytest.mark.parametrize(
    "email", ["jean@example.ca", "jean.tremblay+cers@exportateur.qc.ca", "o'neil@exemple.ca"]
)
def test_well_formed_email_addresses_pass(email: str) -> None:
    assert profile(email=email) == {}


@pytest.mark.parametrize(
    "email", ["<script>@x.ca", "jean@example.ca>", '"jean"@example.ca', "jean@[192.0.2.1]"]
)
def test_what_mail_servers_do_not_take_is_refused(email: str) -> None:
    (message,) = rules.email_errors(email, required=True)
    assert message == "Enter an e-mail address in the form name@example.ca."


@pytest.mark.parametrize(
    "email", ["jean\x00@example.ca", "jean@example.ca\r\nBcc: x@example.ca", "je\tan@example.ca"]
)
def test_control_characters_in_an_address_are_refused(email: str) -> None:
    """A NUL or a line break in an address once made the e-mail retry forever."""
    (message,) = rules.email_errors(email, required=False)
    says(
        message,
        "Remove the tab, line break or other invisible character from this field.",
        "Retirez de ce champ la tabulation, le saut de ligne ou tout autre caractère invisible.",
    )


@pytest.mark.parametrize("email", ["élan@exemple.ca", "jean@exémple.ca", "陈@例子.ca"])
def test_internationalised_addresses_are_refused_with_a_reason(email: str) -> None:
    """CERS sends without SMTPUTF8, so a person learns it at the form, not from a silence."""
    (message,) = rules.email_errors(email, required=True)
    says(
        message,
        "CERS cannot send e-mail to an address with accented or other non-English letters. "
        "Use an address without them.",
        "Le SCDE ne peut pas envoyer de courriel à une adresse qui contient des lettres "
        "accentuées ou d'autres lettres non anglaises. Utilisez une adresse sans ces "
        "lettres.",
    )


@given(st.text(max_size=300))
def test_no_address_with_a_control_or_non_ascii_character_passes(email: str) -> None:
    """Whatever is typed gets a verdict, never an exception; an address that passes can go
    into a mail header as it is."""
    problems = rules.email_errors(email, required=False)
    if email and (not email.isascii() or rules.has_invisible_characters(email)):
        assert len(problems) == 1
    if not problems and email:
        assert email.isascii() and "@" in email and len(email) <= 254
        assert not any(c in email for c in '\r\n\x00<>" ')


@pytest.mark.parametrize("field", ["given_name", "family_name"])
def test_names_with_control_characters_are_refused(field: str) -> None:
    errors = profile(**{field: "Jean\x00"})
    assert errors[field] == [rules.INVISIBLE_CHARACTERS]


@pytest.mark.parametrize(
    "email",
    ["jean", "jean@example", "jean@example.c", "jean tremblay@example.ca", "jean@@example.ca"],
)
def test_malformed_email_addresses_are_refused(email: str) -> None:
    errors = profile(email=email)
    assert list(errors) == ["email"]
    says(
        errors["email"][0],
        "Enter an e-mail address in the form name@example.ca.",
        "Entrez une adresse courriel de la forme nom@exemple.ca.",
    )


def test_email_is_required_on_the_account_and_optional_for_recovery() -> None:
    errors = profile(email="")
    says(errors["email"][0], "Enter your e-mail address.", "Entrez votre adresse courriel.")
    assert rules.email_errors("", required=False) == []
    assert rules.email_errors("jean@example", required=False) == [
        "Enter an e-mail address in the form name@example.ca."
    ]


@pytest.mark.parametrize(
    ("telephone", "ok"),
    [
        ("", True),
        ("613555019", False),
        ("6135550199", True),
        ("+1 (613) 555-0199", True),
        ("+44 20 7946 0958 123", True),
        ("+44 20 7946 0958 1234", False),
        ("613-555-CALL", False),
    ],
)
def test_telephone_is_empty_or_10_to_15_digits(telephone: str, ok: bool) -> None:
    errors = profile(telephone=telephone)
    if ok:
        assert errors == {}
        return
    assert list(errors) == ["telephone"]
    says(
        errors["telephone"][0],
        "Enter a telephone number of 10 to 15 digits, or leave it empty.",
        "Entrez un numéro de téléphone de 10 à 15 chiffres, ou laissez le champ vide.",
    )


def test_canadian_time_zones_come_first_and_others_are_allowed() -> None:
    zones = rules.time_zones()
    assert zones[0] in rules.CANADIAN_TIME_ZONES
    assert zones[: len(rules.CANADIAN_TIME_ZONES)] == rules.CANADIAN_TIME_ZONES
    assert profile(time_zone="Europe/Paris") == {}
    for zone in ("Mars/Olympus", ""):
        errors = profile(time_zone=zone)
        assert list(errors) == ["time_zone"]
        says(
            errors["time_zone"][0],
            "Choose the time zone where you usually conduct business.",
            "Choisissez le fuseau horaire où vous exercez habituellement vos activités.",
        )


@pytest.mark.parametrize(("language", "ok"), [("en", True), ("fr", True), ("de", False)])
def test_communication_language_is_english_or_french(language: str, ok: bool) -> None:
    errors = profile(language=language)
    assert (errors == {}) is ok
    if not ok:
        says(
            errors["language"][0],
            "Choose English or French.",
            "Choisissez l'anglais ou le français.",
        )


# User Reference Number

SAMPLES = [rules.urn_for(n) for n in (1, 42, 7_654_321, 123_456_789, 999_999_999)]


def test_urn_is_10_digits_with_a_luhn_check_digit() -> None:
    assert rules.luhn_digit("7992739871") == "3"  # the textbook Luhn example
    assert rules.urn_for(1) == "0000000018"
    for urn in SAMPLES:
        assert len(urn) == 10 and urn.isdigit()
        assert rules.is_urn(urn)
        assert rules.is_urn(rules.format_urn(urn))
    assert rules.format_urn("0000000018") == "000 000 001 8"


@pytest.mark.parametrize("value", ["", "000000001", "00000000180", "000000001a", "0000-0000-18x"])
def test_urn_of_the_wrong_shape_is_refused(value: str) -> None:
    assert not rules.is_urn(value)


@pytest.mark.parametrize("urn", SAMPLES)
def test_every_single_digit_mistype_is_caught(urn: str) -> None:
    for i, digit in enumerate(urn):
        for other in "0123456789".replace(digit, ""):
            assert not rules.is_urn(urn[:i] + other + urn[i + 1 :]), (urn, i, other)


@pytest.mark.parametrize("urn", SAMPLES)
def test_every_adjacent_transposition_but_09_is_caught(urn: str) -> None:
    for i in range(len(urn) - 1):
        pair = urn[i : i + 2]
        if pair[0] == pair[1] or pair in ("09", "90"):
            continue
        swapped = urn[:i] + pair[::-1] + urn[i + 2 :]
        assert not rules.is_urn(swapped), (urn, i)


def test_luhn_cannot_see_a_09_transposition() -> None:
    body = "123409567"  # holds "09"
    urn = body + rules.luhn_digit(body)
    assert rules.is_urn(urn.replace("09", "90"))


@pytest.mark.parametrize("address", ["a@b..ca", "a@.b.ca", "a@b.c", "a b@c.ca", "ab.ca"])
def test_empty_domain_labels_are_refused(address: str) -> None:
    assert rules.email_errors(address, required=True)


def test_urn_rejects_non_ascii_digits_and_out_of_range_serials() -> None:
    assert rules.is_urn("²000000000") is False
    with pytest.raises(ValueError):
        rules.urn_for(10**9)
    with pytest.raises(ValueError):
        rules.urn_for(0)


def test_time_zones_leave_out_aliases_and_etc() -> None:
    zones = rules.time_zones()
    assert "Europe/Paris" in zones
    assert not any(z.startswith(("Canada/", "Etc/", "US/")) for z in zones)


def test_name_length_counts_without_surrounding_spaces() -> None:
    name = "x" * 50 + " "
    assert "given_name" not in rules.profile_errors(
        name, "Doe", "a@b.ca", "", "America/Toronto", "en"
    )
