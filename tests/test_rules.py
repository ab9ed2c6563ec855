"""The published GCKey and CERS rules at their boundaries, with what the person reads.

Every rejection is checked twice: the English msgid the rule returns and the French
sentence the French pages show for it, so a rule and its translation cannot drift apart.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.normalize import username_key
from i18n import gettext
from tests.i18n_helpers import says
from workflows import rules
from workflows.rules import RecoveryEntry

NBSP = "\u00a0"  # French typography: a no-break space before : ; ? ! and inside « »
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
FRENCH_LETTERS = "àâæçéèêëîïôœùûüÿÀÂÆÇÉÈÊËÎÏÔŒÙÛÜŸ"
SPECIALS = "$%^:{}~'?/|&*_-.`()[]!"  # GCKey's published list, character by character


def failed_codes(checks: list[rules.Check]) -> set[str]:
    return {c.code for c in checks if not c.ok}


def only_failure(checks: list[rules.Check]) -> rules.Check:
    (check,) = [c for c in checks if not c.ok]
    return check


# Username


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (16, True), (17, False)])
def test_username_length_is_8_to_16(length: int, ok: bool) -> None:
    checks = rules.username_checks("abcdefghijklmnopq"[:length])
    assert failed_codes(checks) == (set() if ok else {"length"})
    if not ok:
        says(
            only_failure(checks).message,
            "Between 8 and 16 characters",
            "Entre 8 et 16 caractères",
        )


@pytest.mark.parametrize("letter", FRENCH_LETTERS)
def test_username_accepts_french_letters(letter: str) -> None:
    assert failed_codes(rules.username_checks(f"{letter}xportateur")) == set()


@pytest.mark.parametrize("special", SPECIALS)
def test_username_accepts_each_published_special_character(special: str) -> None:
    assert failed_codes(rules.username_checks(f"export{special}01")) == set()


# The backslash is not on the published list (its backtick is); the rest are common mistypes.
@pytest.mark.parametrize("character", [" ", "#", "@", "+", ",", ";", "=", "<", ">", '"', "\\"])
def test_username_refuses_other_characters(character: str) -> None:
    checks = rules.username_checks(f"export{character}01")
    assert failed_codes(checks) == {"characters"}
    says(
        only_failure(checks).message,
        "Only letters (French letters allowed), digits and these special characters: "
        "$ % ^ : { } ~ ' ? / | & * _ - . ` ( ) [ ] !",
        "Seulement des lettres (lettres accentuées du français permises), des chiffres et "
        f"les caractères spéciaux suivants{NBSP}: $ % ^ : {{ }} ~ ' ? / | & * _ - . ` ( ) [ ] !",
    )


def test_username_has_at_most_7_digits() -> None:
    assert failed_codes(rules.username_checks("abcd1234567")) == set()
    checks = rules.username_checks("abc12345678")
    assert failed_codes(checks) == {"digits"}
    says(only_failure(checks).message, "No more than 7 digits", "Pas plus de 7 chiffres")


def test_empty_username_breaks_the_length_and_character_rules() -> None:
    assert failed_codes(rules.username_checks("")) == {"length", "characters"}


def test_usernames_are_unique_without_regard_to_case_or_unicode_form() -> None:
    assert username_key("ÉLAN2024") == username_key("élan2024")
    assert username_key("E\u0301lan2024") == username_key("\u00c9LAN2024")
    assert username_key("élan2024") != username_key("elan2024")
    says(
        rules.USERNAME_TAKEN_MESSAGE,
        "This username has already been used. Choose another one.",
        "Ce nom d'utilisateur a déjà été utilisé. Choisissez-en un autre.",
    )


# Password

USERNAME = "Voyageur2024"


@pytest.mark.parametrize(("length", "ok"), [(7, False), (8, True), (16, True), (17, False)])
def test_password_length_is_8_to_16(length: int, ok: bool) -> None:
    checks = rules.password_checks("Ab1" + "x" * (length - 3), USERNAME)
    assert failed_codes(checks) == (set() if ok else {"length"})
    if not ok:
        says(
            only_failure(checks).message,
            "Between 8 and 16 characters",
            "Entre 8 et 16 caractères",
        )


@pytest.mark.parametrize(
    ("password", "code", "english", "french"),
    [
        ("maple9leaf", "upper", "At least one upper case letter", "Au moins une lettre majuscule"),
        ("MAPLE9LEAF", "lower", "At least one lower case letter", "Au moins une lettre minuscule"),
        ("MapleLeaf", "digit", "At least one digit", "Au moins un chiffre"),
    ],
)
def test_password_needs_upper_lower_and_digit(
    password: str, code: str, english: str, french: str
) -> None:
    checks = rules.password_checks(password, USERNAME)
    assert failed_codes(checks) == {code}
    says(only_failure(checks).message, english, french)


@pytest.mark.parametrize("password", ["Mapleyag9x", "MapleYAG9x", "2024Maple", "Maple9VOY"])
def test_password_must_not_hold_3_consecutive_username_characters(password: str) -> None:
    checks = rules.password_checks(password, USERNAME)
    assert failed_codes(checks) == {"username"}
    says(
        only_failure(checks).message,
        "No 3 or more consecutive characters from your username",
        "Aucune suite de 3 caractères consécutifs ou plus de votre nom d'utilisateur",
    )


@pytest.mark.parametrize("password", ["Mapleya9xQ", "MapleYA9xQ", "20Maple24x"])
def test_password_may_share_2_consecutive_username_characters(password: str) -> None:
    assert failed_codes(rules.password_checks(password, USERNAME)) == set()


def test_the_two_password_entries_must_match() -> None:
    assert "match" not in {c.code for c in rules.password_checks("Maple9Leaf", USERNAME)}
    assert failed_codes(rules.password_checks("Maple9Leaf", USERNAME, "Maple9Leaf")) == set()
    checks = rules.password_checks("Maple9Leaf", USERNAME, "maple9leaf")
    assert failed_codes(checks) == {"match"}
    says(
        only_failure(checks).message,
        "The two passwords must match",
        "Les deux mots de passe doivent être identiques",
    )
    assert "match" in failed_codes(rules.password_checks("", USERNAME, ""))


# Recovery questions, answers and hints


def entries(*triples: tuple[str, str, str]) -> list[RecoveryEntry]:
    return [RecoveryEntry(q, a, h) for q, a, h in triples]


GOOD = [("first_pet", "Rex the dog", ""), ("first_school", "Lord Byng", "Vancouver")]


def test_good_recovery_answers_pass() -> None:
    assert rules.recovery_errors(entries(*GOOD, ("first_car", "Lada", "")), 3) == {}


def test_every_recovery_question_needs_an_answer() -> None:
    errors = rules.recovery_errors(entries(*GOOD), 3)
    assert list(errors) == ["recovery"]
    says(
        errors["recovery"][0],
        "Answer every recovery question.",
        "Répondez à chaque question de récupération.",
    )


def test_each_question_is_chosen_once_from_the_list() -> None:
    errors = rules.recovery_errors(entries(*GOOD, ("first_pet", "Felix", "")), 3)
    assert errors == {"question_2": ["Choose a different question for each answer."]}
    says(
        errors["question_2"][0],
        "Choose a different question for each answer.",
        "Choisissez une question différente pour chaque réponse.",
    )
    errors = rules.recovery_errors(entries(*GOOD, ("mothers_maiden_name", "Roy", "")), 3)
    assert errors == {"question_2": ["Choose a question from the list."]}
    says(
        errors["question_2"][0],
        "Choose a question from the list.",
        "Choisissez une question dans la liste.",
    )


@pytest.mark.parametrize(
    ("answer", "ok"),
    [("abc", True), ("ab", False), ("  ab ", False), ("  a  b ", True), ("", False)],
)
def test_answers_have_at_least_3_characters_once_normalized(answer: str, ok: bool) -> None:
    errors = rules.recovery_errors(entries(("first_pet", answer, "")), 1)
    if ok:
        assert errors == {}
        return
    assert list(errors) == ["answer_0"]
    says(
        errors["answer_0"][0],
        "The answer is too short: use at least the number of characters shown above.",
        "La réponse est trop courte : utilisez au moins le nombre de caractères indiqué plus haut.",
    )


@pytest.mark.parametrize("hint", ["my REX", "  rex  ", "Rex the dog? no"])
def test_hint_must_not_contain_the_answer(hint: str) -> None:
    errors = rules.recovery_errors(entries(("first_pet", "Rex", hint)), 1)
    assert list(errors) == ["hint_0"]
    says(
        errors["hint_0"][0],
        "The hint must not contain the answer.",
        "L'indice ne doit pas contenir la réponse.",
    )


def test_hint_may_hold_the_answer_inside_another_word() -> None:
    assert rules.recovery_errors(entries(("first_pet", "cat", "a category")), 1) == {}


def test_answer_length_follows_the_setting() -> None:
    assert list(rules.recovery_errors(entries(("first_pet", "abcd", "")), 1, 5)) == ["answer_0"]
    assert rules.recovery_errors(entries(("first_pet", "abcde", "")), 1, 5) == {}


def test_answer_and_hint_have_the_settings_maximum() -> None:
    assert rules.recovery_errors(entries(("first_pet", "x" * 20, "y" * 10)), 1, 3, 20, 10) == {}
    errors = rules.recovery_errors(entries(("first_pet", "x" * 21, "y" * 11)), 1, 3, 20, 10)
    assert list(errors) == ["answer_0", "hint_0"]
    says(
        errors["answer_0"][0],
        "The answer is too long: use at most the number of characters shown above.",
        "La réponse est trop longue\u00a0: utilisez au plus "
        "le nombre de caractères indiqué plus haut.",
    )


def test_username_with_a_combining_accent_counts_one_letter() -> None:
    decomposed = "Ele\u0301onore1"  # é typed as e + combining acute accent
    assert all(c.ok for c in rules.username_checks(decomposed))
    assert username_key(decomposed) == username_key("Éléonore1".replace("É", "E"))


def test_hint_has_at_most_100_characters() -> None:
    assert rules.recovery_errors(entries(("first_pet", "Rex", "x" * 100)), 1) == {}
    errors = rules.recovery_errors(entries(("first_pet", "Rex", "x" * 101)), 1)
    assert list(errors) == ["hint_0"]
    says(
        errors["hint_0"][0],
        "The hint is too long: use at most the number of characters shown above.",
        "L'indice est trop long\u00a0: utilisez au plus le nombre de caractères indiqué plus haut.",
    )


def test_recovery_questions_are_translated() -> None:
    assert gettext("fr", rules.RECOVERY_QUESTIONS["first_pet"]) == (
        f"Quel était le nom de votre premier animal de compagnie{NBSP}?"
    )
    for question in rules.RECOVERY_QUESTIONS.values():
        assert gettext("fr", question).endswith(f"{NBSP}?")


# Properties

USERNAME_ALPHABET = LETTERS + FRENCH_LETTERS + "0123456789" + SPECIALS


@given(st.text(alphabet=USERNAME_ALPHABET, min_size=8, max_size=16))
def test_any_username_from_the_published_alphabet_passes(username: str) -> None:
    assume(sum(c.isdigit() for c in username) <= 7)
    assert failed_codes(rules.username_checks(username)) == set()


@given(st.text(max_size=20), st.text(max_size=20))
def test_password_sharing_no_character_with_the_username_never_breaks_that_rule(
    password: str, username: str
) -> None:
    assume(not set(password.casefold()) & set(username.casefold()))
    assert "username" not in failed_codes(rules.password_checks(password, username))


@given(st.integers(min_value=1, max_value=10**9 - 1))
def test_every_serial_gives_a_valid_urn(serial: int) -> None:
    urn = rules.urn_for(serial)
    assert len(urn) == 10 and rules.is_urn(urn)
