"""The password policy: length, a common-password list, no user name, no "password"-likes.

It follows NIST SP 800-63B (section 3.1.1.2, "Password Verifiers"): a minimum length and a check
against values known to be commonly used, expected or compromised, with no composition rules
(no "one digit and one symbol"), which only push people towards ``Password1!``.

A password is refused when

* it is shorter than :data:`MIN_LENGTH` or longer than :data:`MAX_LENGTH` characters, or holds a
  control character;
* it is built from very few distinct characters, repeats one short unit (``monkeymonkey``), or
  runs along the alphabet, the digits or a keyboard row (``qwertyuiop12``);
* it, its lower-case form or its "leet" reading (``P@55w0rd`` -> ``password``) is a password
  of the common-password list with nothing but digits, symbols or spaces around it
  (``dragon2024!!``); the list is shipped in
  ``services/data/`` (19,640 passwords compiled by Royce Williams, as distributed by Django
  under the BSD-3-Clause licence; see ``data/LICENSE.common-passwords``);
* any of those forms contains the user name (or the user name reversed), or a word meaning
  "password", or the product's own names.

The reason is told to the user in plain words, never the matching list entry.
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from importlib import resources

from inoplan.errors import InvalidInput

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "check_password", "common_passwords"]

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounds the hashing work an attacker can ask for
MIN_DISTINCT = 5

#: Words that make a password guessable whatever surrounds them.
CONTEXT_WORDS = (
    "password",
    "passwort",
    "passwd",
    "passw",
    "motdepasse",
    "contrasena",
    "wachtwoord",
    "inoplan",
    "besponsa",
    "inotuzumab",
)
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_LEET = {
    "@": "a",
    "4": "a",
    "8": "b",
    "(": "c",
    "3": "e",
    "6": "g",
    "9": "g",
    "#": "h",
    "!": "i",
    "|": "l",
    "0": "o",
    "$": "s",
    "5": "s",
    "7": "t",
    "+": "t",
    "2": "z",
}
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case)."""
    data = resources.files("inoplan.services").joinpath("data/common-passwords.txt.gz")
    text = gzip.decompress(data.read_bytes()).decode("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _fold(text: str) -> str:
    """Lower case without accents (``Contraseña`` -> ``contrasena``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _forms(password: str) -> set[str]:
    """The readings a guesser would try: lower case, leet, letters only, edges stripped."""
    lower = _fold(password)
    forms = {lower, lower.replace(" ", ""), password.casefold()}
    for one in ("i", "l"):
        leet = "".join(_LEET.get(c, one if c == "1" else c) for c in lower)
        forms.add(leet)
    forms |= {_EDGES.sub("", form) for form in list(forms)}
    forms |= {re.sub(r"[\W_]+", "", form) for form in list(forms)}
    return {form for form in forms if form}


_TRIVIAL = re.compile(r"[\W\d_]*")


def _common_at_heart(form: str) -> bool:
    """A common password (4 characters or more) with nothing but digits, symbols or spaces
    around it: ``dragon2024!!``, ``!!42SUNSHINE42``."""
    words = common_passwords()
    longest = _longest_common()
    for start in range(len(form)):
        for end in range(start + 4, min(len(form), start + longest) + 1):
            if form[start:end] in words and _TRIVIAL.fullmatch(form[:start] + form[end:]):
                return True
    return False


@functools.cache
def _longest_common() -> int:
    return max(len(word) for word in common_passwords())


def _repeats_a_unit(text: str) -> bool:
    """``abcabcabcabc``: the whole text is one shorter unit repeated."""
    return len(text) > 1 and (text + text).find(text, 1) < len(text)


def _runs_along_a_sequence(text: str) -> bool:
    if len(text) < 4:
        return False
    for sequence in _SEQUENCES:
        cycled = sequence * 3
        if text in cycled or text[::-1] in cycled:
            return True
    return False


def check_password(password: object, username: str | None = None) -> str:
    """Return ``password`` if the policy accepts it, else raise InvalidInput("password", why)."""
    if not isinstance(password, str):
        raise InvalidInput("password", "must be text")
    if len(password) < MIN_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput("password", f"must be at most {MAX_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in password):
        raise InvalidInput("password", "must not contain control or invisible characters")
    lower = _fold(password)
    if len(set(lower)) < MIN_DISTINCT:
        raise InvalidInput("password", "uses too few different characters")
    forms = _forms(password)
    if any(_repeats_a_unit(form) or _runs_along_a_sequence(form) for form in forms):
        raise InvalidInput("password", "is a repeated pattern or a keyboard or alphabet run")
    if any(_common_at_heart(form) for form in forms):
        raise InvalidInput("password", "is a commonly used password; choose another")
    if username:
        name = _fold(username)
        names = {part for part in re.split(r"[\W_]+", name) if len(part) >= 4}
        if len(name) >= 3:
            names |= {name, name[::-1]}
        if any(n in form for form in forms for n in names):
            raise InvalidInput("password", "must not contain the user name")
    if any(word in form for form in forms for word in CONTEXT_WORDS):
        raise InvalidInput(
            "password", "must not contain 'password', the product's name or a similar word"
        )
    return password
