"""Pseudonymous conversation ids, encrypted addresses, menus, deliveries taken once."""

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from amparo.contacts import (
    MAX_ATTEMPTS,
    ContactStore,
    Inbound,
    Keys,
    NoAddress,
    Offered,
    Pending,
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


def inbound(external_id="SM1", channel="sms", text="necesito ayuda"):
    return Inbound(channel, external_id, PHONE, text, {"calling_code": "52"})


def test_a_delivery_is_taken_once_until_old():
    store = contacts()
    assert store.take_delivery(inbound(), "host:1")
    assert not store.take_delivery(inbound(), "host:2")
    assert store.take_delivery(inbound(channel="telegram"), "host:1")  # per channel
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    assert store.prune_deliveries(now=later) == 4  # the ids and their journal
    assert store.take_delivery(inbound(), "host:1")


def test_the_journal_is_sealed_and_gone_when_the_turn_is_done():
    store = contacts()
    store.take_delivery(inbound(text="me llamo Rosa"), "host:1")
    with case_store().engine.connect() as connection:
        rows = connection.execute(text("select * from inbound_pending")).all()
    assert len(rows) == 1
    assert "Rosa" not in repr(rows) and "5512345678" not in repr(rows)
    store.done("sms", "SM1", "host:1")
    with case_store().engine.connect() as connection:
        assert connection.scalar(text("select count(*) from inbound_pending")) == 0


def test_a_turn_of_a_process_that_is_gone_is_claimed_by_one_other():
    store, hour = contacts(), dt.timedelta(hours=1)
    store.take_delivery(inbound(), "host:1")
    # still within its lease: nobody takes it over
    assert store.claim_stale("sms", "host:2", hour) == ([], 0)
    claimed, given_up = store.claim_stale("sms", "host:2", dt.timedelta(0))
    assert claimed == [inbound()] and given_up == 0
    # claimed now: a third process finds nothing to take
    assert store.claim_stale("sms", "host:3", hour) == ([], 0)


def test_a_failed_turn_is_free_at_once_then_given_up_after_its_attempts():
    store, hour = contacts(), dt.timedelta(hours=1)
    store.take_delivery(inbound(), "host:1")
    for _attempt in range(2, MAX_ATTEMPTS + 1):
        store.release("sms", "SM1", "host:1")
        assert store.claim_stale("sms", "host:1", hour) == ([inbound()], 0)
    store.release("sms", "SM1", "host:1")
    assert store.claim_stale("sms", "host:1", hour) == ([], 1)
    assert not store.take_delivery(inbound(), "host:1")  # still taken once


def test_a_turn_running_here_is_not_claimed_again():
    store = contacts()
    store.take_delivery(inbound(), "host:1")
    store.release("sms", "SM1", "host:1")
    assert store.claim_stale("sms", "host:1", dt.timedelta(0), running=["SM1"]) == (
        [],
        0,
    )


def test_an_unreadable_journal_entry_is_given_up_not_a_crash():
    store = contacts()
    store.take_delivery(inbound(), "host:1")
    store.release("sms", "SM1", "host:1")
    other = ContactStore(
        case_store().engine,
        Keys(TEST_ID_KEY, (Fernet.generate_key().decode(),)),
    )
    assert other.claim_stale("sms", "host:1", dt.timedelta(0)) == ([], 1)


def test_erasing_a_person_drops_their_journalled_messages():
    store = contacts()
    store.take_delivery(inbound(), "host:1")
    person = store.conversation("sms", PHONE)
    assert store.erase(person) == 2  # the contact and the journal entry
    store.release("sms", "SM1", "host:1")
    assert store.claim_stale("sms", "host:1", dt.timedelta(0)) == ([], 0)


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


def test_retention_drops_journalled_messages_older_than_the_limit():
    store = contacts()
    store.take_delivery(inbound("SM1"), "host:1")
    store.take_delivery(inbound("SM2", text="otro"), "host:1")
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    with case_store().session() as session, session.begin():
        session.get(Pending, ("sms", "SM1")).received_at = long_ago
    assert store.expire(long_ago + dt.timedelta(days=1)) == 1
    store.release("sms", "SM2", "host:1")
    claimed, _ = store.claim_stale("sms", "host:1", dt.timedelta(0))
    assert [c.external_id for c in claimed] == ["SM2"]


def test_a_long_turn_renewed_by_its_living_process_is_not_taken_over():
    store = contacts()
    store.take_delivery(inbound(), "host:1")
    with case_store().session() as session, session.begin():
        session.get(Pending, ("sms", "SM1")).claimed_at -= dt.timedelta(minutes=5)
    store.renew("sms", "host:2", ["SM1"])  # not its turn: changes nothing
    store.renew("sms", "host:1", ["SM1"])
    assert store.claim_stale("sms", "host:2", dt.timedelta(minutes=1)) == ([], 0)


def stale_entry(store):
    """SM1, taken by host:1, which stopped renewing it a minute ago."""
    store.take_delivery(inbound(), "host:1")
    with case_store().session() as session, session.begin():
        session.get(Pending, ("sms", "SM1")).claimed_at -= dt.timedelta(minutes=1)
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)
    [row] = store.stale("sms", cutoff)
    return row, cutoff


def test_two_processes_claiming_the_same_entry_at_once_one_wins():
    store = contacts()
    row, cutoff = stale_entry(store)
    other = ContactStore(case_store().engine, store.keys)
    [same] = other.stale("sms", cutoff)  # both read it stale
    assert store.claim(row, "host:2", cutoff) == (inbound(), 0)
    assert other.claim(same, "host:3", cutoff) == (None, 0)


def test_an_entry_renewed_after_it_was_read_stale_is_not_taken():
    store = contacts()
    row, cutoff = stale_entry(store)
    store.renew("sms", "host:1", ["SM1"])  # its process was alive after all
    assert store.claim(row, "host:2", cutoff) == (None, 0)


def test_only_the_owner_of_a_turn_releases_it_or_marks_it_done():
    store = contacts()
    row, cutoff = stale_entry(store)
    store.claim(row, "host:2", cutoff)  # host:1 was taken for dead
    store.release("sms", "SM1", "host:1")
    store.done("sms", "SM1", "host:1")
    assert store.stale("sms", cutoff) == []  # still host:2's, running
    store.done("sms", "SM1", "host:2")
    with case_store().engine.connect() as connection:
        assert connection.scalar(text("select count(*) from inbound_pending")) == 0


def test_key_rotation_reseals_the_journal():
    store = contacts()
    store.take_delivery(inbound(), "host:1")
    store.release("sms", "SM1", "host:1")
    new_key = Fernet.generate_key().decode()
    rotated = ContactStore(
        case_store().engine, Keys(TEST_ID_KEY, (new_key, TEST_DATA_KEY))
    )
    assert rotated.reseal_all() == 1
    only_new = ContactStore(case_store().engine, Keys(TEST_ID_KEY, (new_key,)))
    assert only_new.claim_stale("sms", "host:1", dt.timedelta(0)) == ([inbound()], 0)
