from __future__ import annotations

from pipeline.brand import BrandAccounts


def make() -> BrandAccounts:
    return BrandAccounts.from_mapping(
        {
            "Twitter": ["@RailCo", "783214", "  "],
            "facebook": ["104512345678901"],
            "email": ["Service@RailCo.example", "@agents.railco.example"],
        }
    )


def test_handles_and_ids_case_insensitive() -> None:
    brand = make()
    assert brand.is_brand("twitter", handle="railco")
    assert brand.is_brand("twitter", handle="@RAILCO")
    assert brand.is_brand("twitter", author_id="783214")
    assert not brand.is_brand("twitter", author_id="1", handle="railco_fan")
    assert not brand.is_brand("facebook", handle="railco")  # per network
    assert brand.is_brand("facebook", author_id="104512345678901")
    assert "" not in brand.accounts["twitter"]


def test_mailboxes_and_domains() -> None:
    brand = make()
    assert brand.is_brand("email", email="service@railco.example")
    assert brand.is_brand("email", email="SERVICE+ticket-17@railco.example")  # +tag folded
    assert brand.is_brand("email", email="m.koch@agents.railco.example")
    assert not brand.is_brand("email", email="service@railco.example.evil.test")
    assert not brand.is_brand("email", email=None)
    assert brand.is_brand_mailbox("service@railco.example")
    assert not brand.is_brand_mailbox("kunde@example.org")


def test_empty_and_equal() -> None:
    empty = BrandAccounts()
    assert not empty.is_brand("twitter", "1", "x", "a@b.c")
    assert make() == make()
