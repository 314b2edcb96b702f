"""Pseudonymous conversation ids, encrypted addresses, menus, deliveries taken once."""

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from amparo.contacts import (
    ContactStore,
    Keys,
    NoAddress,
    Offered,
    contacts,
    new_keys,
)
from amparo.handoff import case_store
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY

PHONE = "+5215512345678"


def test_the_id_is_stable_keyed_and_reveals_nothing():
    keys = Keys(TEST_ID_KEY, (TEST_DATA_KEY,))
    person = keys.pseudonym("sms", PHONE)
    assert person == keys.pseudonym("sms", PHONE)
    assert person.startswith("sms-") and "5512345678" not in person
    assert person != keys.pseudonym("whatsapp", PHONE)
    assert person != Keys("another-key-" * 4, (TEST_DATA_KEY,)).pseudonym("sms", PHONE)


def test_the_address_is_kept_encrypted_and_only_the_store_reads_it():
    person = contacts().conversation("sms", PHONE)
    assert contacts().address_of(person) == PHONE
    with case_store().engine.connect() as connection:
        rows = connection.execute(text("select * from contact")).all()
    assert rows and PHONE not in repr(rows) and "5512345678" not in repr(rows)


def test_an_older_key_still_opens_addresses_after_rotation():
    old = contacts()
    person = old.conversation("sms", PHONE)
    new_key = Fernet.generate_key().decode()
    rotated = ContactStore(
        case_store().engine, Keys(TEST_ID_KEY, (new_key, TEST_DATA_KEY))
    )
    assert rotated.address_of(person) == PHONE
    # The person writes again: the address is re-sealed under the new key.
    rotated.conversation("sms", PHONE)
    only_new = ContactStore(case_store().engine, Keys(TEST_ID_KEY, (new_key,)))
    assert only_new.address_of(person) == PHONE
    forgotten = ContactStore(
        case_store().engine, Keys(TEST_ID_KEY, (Fernet.generate_key().decode(),))
    )
    with pytest.raises(NoAddress):
        forgotten.address_of(person)
    # The person writes again: the address is kept anew under the current key.
    forgotten.conversation("sms", PHONE)
    assert forgotten.address_of(person) == PHONE


@pytest.mark.parametrize(
    ("id_key", "data_keys", "problem"),
    [
        ("short", (TEST_DATA_KEY,), "AMPARO_ID_KEY"),
        (TEST_ID_KEY, (), "AMPARO_DATA_KEYS is empty"),
        (TEST_ID_KEY, ("not-a-fernet-key",), "Fernet keys"),
    ],
)
def test_bad_keys_are_refused_clearly(id_key, data_keys, problem):
    with pytest.raises(ValueError, match=problem):
        Keys(id_key, data_keys)


def test_without_keys_there_is_no_address_but_menus_still_work(monkeypatch):
    store = ContactStore(case_store().engine, None)
    with pytest.raises(NoAddress, match="AMPARO_ID_KEY"):
        store.conversation("sms", PHONE)
    store.set_menu("webchat-person", "webchat", Offered("a1b2c3", ("/greet", "/deny")))
    assert store.menu("webchat-person") == Offered("a1b2c3", ("/greet", "/deny"))
    store.set_menu("webchat-person", "webchat", Offered("d4e5f6"))
    assert store.menu("webchat-person") == Offered()
    assert store.menu("nobody") == Offered()


def test_an_empty_menu_keeps_nothing_for_someone_erased():
    store = contacts()
    person = store.conversation("sms", PHONE)
    store.set_menu(person, "sms", Offered("a1b2c3", ("/greet", "/deny")))
    assert store.erase(person) == 1
    store.set_menu(person, "sms", Offered("d4e5f6"))  # the erasing turn's menu
    with case_store().engine.connect() as connection:
        assert connection.scalar(text("select count(*) from contact")) == 0


def test_a_delivery_is_taken_once_until_forgotten_or_old():
    store = contacts()
    assert store.first_delivery("sms", "SM1")
    assert not store.first_delivery("sms", "SM1")
    assert store.first_delivery("telegram", "SM1")  # ids are per channel
    store.forget_delivery("sms", "SM1")
    assert store.first_delivery("sms", "SM1")
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    assert store.prune_deliveries(now=later) == 2
    assert store.first_delivery("sms", "SM1")


def test_new_keys_work():
    lines = dict(line.split("=", 1) for line in new_keys().splitlines())
    Keys(lines["AMPARO_ID_KEY"], (lines["AMPARO_DATA_KEYS"],))


def test_two_first_messages_at_once_make_one_contact():
    import threading

    store, barrier, found = contacts(), threading.Barrier(4), []

    def write():
        barrier.wait()
        found.append(store.conversation("whatsapp", "whatsapp:" + PHONE))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and len(set(found)) == 1
    assert store.address_of(found[0]) == "whatsapp:" + PHONE


def test_retention_keeps_the_contact_of_someone_still_writing():
    from amparo.contacts import Contact

    store = contacts()
    person = store.conversation("sms", PHONE)
    month_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    with store._session() as session, session.begin():
        session.get(Contact, person).updated_at = month_ago
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    store.conversation("sms", PHONE)  # they write again
    assert store.expire(before) == 0
    with store._session() as session, session.begin():
        session.get(Contact, person).updated_at = month_ago
    assert store.expire(before) == 1  # silent since: forgotten
    with pytest.raises(NoAddress):
        store.address_of(person)
