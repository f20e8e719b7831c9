"""Tests for plandeploy.scrub: each rule, including the ways a naive id/secret scrubber leaks."""

import pytest

from plandeploy.scrub import SALESFORCE_ID_PREFIXES, scrub

ORG15 = "00D1F0000009Gpn"
ORG18 = "00D1F0000009GpnUAE"


def test_given_secrets_replaced_longest_first_and_case_insensitively() -> None:
    text = "user admin@acme.example token sekrit-token-123 and SEKRIT-TOKEN-123x"
    out = scrub(text, ["sekrit-token-123", "sekrit-token-123x", "admin@acme.example"])
    assert "sekrit" not in out.lower()
    assert "admin@" not in out
    assert out.count("<redacted>") == 3


def test_eighteen_char_secret_also_removes_its_fifteen_char_prefix() -> None:
    out = scrub(f"long {ORG18} short xx{ORG15}yy", [ORG18])
    assert ORG15 not in out
    assert out == "long <redacted> short xx<redacted>yy"


def test_short_and_empty_secrets_are_ignored() -> None:
    assert scrub("a cat sat", ["a", "", None, "cat"]) == "a cat sat"


@pytest.mark.parametrize("org_id", [ORG15, ORG18])
def test_salesforce_ids_fully_replaced_keeping_prefix(org_id: str) -> None:
    # An 18-char id must not keep its last three characters (a 15-char pattern would).
    out = scrub(f"Org Id: {org_id}.")
    assert out == "Org Id: 00D<redacted-id>."
    assert "UAE" not in out


def test_ids_after_punctuation_are_ids_but_ids_inside_words_are_not() -> None:
    # No dependence on regex alignment: an id is one that touches no letter or digit.
    assert scrub(f"id={ORG15},x") == "id=00D<redacted-id>,x"
    assert scrub("(005000000000001AAA)") == "(005<redacted-id>)"
    assert scrub(f"_{ORG15}_") == "_00D<redacted-id>_"
    assert scrub(f"xx{ORG15}") == f"xx{ORG15}"
    assert scrub(f"{ORG15}xx") == f"{ORG15}xx"


def test_known_org_id_is_scrubbed_even_inside_words() -> None:
    assert scrub(f"xx{ORG15}", [ORG18]) == "xx<redacted>"


def test_ordinary_words_are_not_mangled() -> None:
    # "Use" is not an id prefix, so words of id length stay intact.
    for word in ["UserInformationXYZ", "UserInformation", "500MillionUsers", "Configuration123"]:
        assert scrub(f"see {word} here") == f"see {word} here"


def test_prefix_list_has_no_duplicates_and_only_three_char_prefixes() -> None:
    # A duplicated or mis-sized prefix would make the id pattern mangle ordinary words.
    assert all(len(p) == 3 for p in SALESFORCE_ID_PREFIXES)
    assert "Use" not in SALESFORCE_ID_PREFIXES


def test_session_ids_and_bearer_tokens() -> None:
    token = f"{ORG15}!AQ4AQFv3.x_yz-123"
    out = scrub(f"sid={token} and Authorization: Bearer abc.def-ghi==")
    assert "AQ4AQ" not in out and "abc.def" not in out
    assert "<redacted-token>" in out
    assert "Bearer <redacted-token>" in out


def test_instance_urls() -> None:
    out = scrub(
        "at https://acme--dev.sandbox.my.salesforce.com/services/data and "
        "https://acme.lightning.force.com/lightning and https://login.salesforce.com"
    )
    assert "acme" not in out
    assert "https://<redacted-instance>/services/data" in out
    assert "https://login.salesforce.com" in out


def test_email_addresses() -> None:
    out = scrub("user jane.doe+test@example.com.sandbox logged in")
    assert out == "user <redacted-email> logged in"


@pytest.mark.parametrize("req,avail", [("5", "3"), ("12345", "99999"), ("1234567", "0")])
def test_limits_any_digit_count(req: str, avail: str) -> None:
    # Limits of any digit count are masked, not only those of 1 to 4 digits.
    out = scrub(f"Limit exceeded (Required: {req}, Available: {avail}) for storage")
    assert out == "Limit exceeded (Required: <N>, Available: <M>) for storage"


def test_error_id() -> None:
    text = "Please include this ErrorId if you contact support: 1234567890-12345 (-987654321)"
    assert scrub(text) == "Please include this ErrorId if you contact support: <ERROR_ID>"


def test_organization_name_line_only() -> None:
    text = "Organization Name: Acme Widgets Ltd\nOrganization ID: next line kept"
    assert scrub(text) == "Organization Name: <ORG_NAME>\nOrganization ID: next line kept"


def test_apex_test_failure_does_not_blank_the_text() -> None:
    # A test-failure message keeps its text; only the id inside it is masked.
    text = "Apex Test Failure: MyTest.testIt failed in org " + ORG15
    assert scrub(text) == "Apex Test Failure: MyTest.testIt failed in org 00D<redacted-id>"


def test_empty_text() -> None:
    assert scrub("") == ""
