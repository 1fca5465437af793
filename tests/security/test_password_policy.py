"""Finding 1 (policy): "password" and its kind are refused for every user, in the API, the CLI
and the service; good passphrases pass."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inoplan.errors import InvalidInput
from inoplan.services.passwords import MAX_LENGTH, MIN_LENGTH, check_password, common_passwords
from tests.integration.records_helpers import headers

REFUSED = {
    "too short": ("Xk4!pQ9z", "alice"),
    "just below the minimum": ("kk" + "Zq9!mW2xR", "alice"),
    "the word itself": ("password", "admin"),
    "password with digits": ("password123456", "admin"),
    "Password with a year": ("Password2024!", "admin"),
    "leet password": ("P@55w0rd-2024!", "admin"),
    "passwort": ("MeinPasswort2024", "admin"),
    "the product's name": ("inoplan-rocks-42", "admin"),
    "a common password padded": ("dragon2024!!!!", "bob"),
    "a common password, capitals": ("ILOVEYOU12345", "bob"),
    "a common password with symbols": ("!!sunshine2024", "bob"),
    "a common long one": ("1qaz2wsx3edc4rfv", "bob"),
    "keyboard run": ("qwertyuiop12", "bob"),
    "alphabet run": ("abcdefghijklm", "bob"),
    "digit run": ("123456789012", "bob"),
    "repeated unit": ("monkeymonkey", "bob"),
    "repeated pair": ("abababababab", "bob"),
    "one character": ("aaaaaaaaaaaaaaaa", "bob"),
    "few characters": ("aabbaabbccaabb", "bob"),
    "the user name": ("dr.lee-secure-77", "dr.lee"),
    "the user name, capitals": ("ALICE-is-great-1", "alice"),
    "the user name reversed": ("ecila-backwards-9", "alice"),
    "part of the user name": ("smithfield lane 7", "anna.smith"),
    "a control character": ("good phrase\x00here", "bob"),
    "a bidi override": ("good phrase \u202ehere", "bob"),
    "too long": ("x7 " * 100, "bob"),
}
ACCEPTED = [
    ("correct horse battery staple", "alice"),
    ("Tr0ub4dor&3xyz", "bob"),
    ("calm river stone 1 of five", "admin"),
    ("violet harbour lamp 0", "pharmacist"),
    ("x" * 4 + "Zq3v9Lw2", "bob"),  # exactly the minimum
]


@pytest.mark.parametrize(("password", "username"), REFUSED.values(), ids=list(REFUSED))
def test_weak_passwords_are_refused(password: str, username: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_password(password, username)
    assert refused.value.field == "password"


@pytest.mark.parametrize(("password", "username"), ACCEPTED)
def test_good_passphrases_pass(password: str, username: str) -> None:
    assert check_password(password, username) == password


def test_the_limits_sit_where_the_docs_say() -> None:
    assert MIN_LENGTH == 12 and MAX_LENGTH == 256
    check_password("Zq3v9Lw2Tn8X", "bob")  # 12: accepted
    with pytest.raises(InvalidInput):
        check_password("Zq3v9Lw2Tn8", "bob")  # 11: refused


def test_the_shipped_list_is_the_common_password_list() -> None:
    words = common_passwords()
    assert len(words) > 19_000
    assert {"password", "123456", "qwerty", "iloveyou", "dragon"} <= words
    assert all(w == w.lower() for w in list(words)[:500])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(w for w in common_passwords() if len(w) >= 4)), st.integers(0, 9999))
def test_no_common_password_passes_with_a_number_or_symbol_around_it(
    word: str, number: int
) -> None:
    for candidate in (f"{word}{number:04d}!!!!!!!!", f"!!{number}{word.upper()}{number}!!!!!!"):
        with pytest.raises(InvalidInput):
            check_password(candidate, "someone")


def test_the_api_refuses_a_weak_password_for_an_admin(client: Any, tokens: Any) -> None:
    admin = headers(tokens["admin"])
    for password in ("password", "Password2024!", "root.admin-123", "new.admin2024!"):
        response = client.post(
            "/api/v1/users",
            json={"username": "new.admin", "password": password, "role": "admin"},
            headers=admin,
        )
        assert response.status_code == 422, password
        assert response.json()["field"] == "password"
    weak_reset = client.put(
        "/api/v1/users/nurse/password", json={"password": "password"}, headers=admin
    )
    assert weak_reset.status_code == 422 and weak_reset.json()["field"] == "password"


def test_add_user_in_the_service_applies_the_policy(client: Any) -> None:
    from inoplan.services.auth import add_user

    with pytest.raises(InvalidInput, match="password"):
        add_user(client.app.state.database, "admin2", "password", "admin", actor="test")
