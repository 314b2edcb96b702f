"""The case store, on SQLite and (where it runs) PostgreSQL: what the person, the
caseworkers and the desk's background work can and cannot do."""

import datetime as dt

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from amparo.cases import (
    ACTIVE,
    CLOSED,
    DELIVERED,
    FAILED,
    PENDING,
    QUEUED,
    RECEIVED,
    RETRY_AFTER,
    SENT,
    Base,
    CaseError,
    CaseStore,
    Conflict,
    Forbidden,
    NotFound,
    make_engine,
)

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc)
PASSWORD = "correct horse battery"


def postgres_or_skip() -> str:
    try:
        with create_engine(POSTGRES, future=True).connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError:
        pytest.skip(f"PostgreSQL is not running at {POSTGRES}")
    return POSTGRES


@pytest.fixture(params=["sqlite", "postgresql"])
def cases(request, tmp_path) -> CaseStore:
    if request.param == "sqlite":
        yield CaseStore.from_url(f"sqlite:///{tmp_path / 'cases.db'}")
        return
    engine = make_engine(postgres_or_skip())
    Base.metadata.drop_all(engine)
    store = CaseStore(engine)
    store.create_tables()
    yield store
    Base.metadata.drop_all(engine)
    engine.dispose()


def open_case(cases, who="person-0001", category="violence", **extra):
    return cases.open_case(
        conversation_id=who,
        channel=extra.pop("channel", "webchat"),
        language=extra.pop("language", "es"),
        category=category,
        now=extra.pop("now", NOW),
        **extra,
    )


def worker(cases, name="ana", teams=("gbv",), role="caseworker"):
    cases.create_caseworker(username=name, password=PASSWORD, role=role, teams=teams)
    return cases.caseworker_for(cases.log_in(name, PASSWORD))


def test_a_case_holds_what_a_caseworker_needs_and_routes_the_conversation(cases):
    opened = open_case(
        cases, country="MX", area="Tapachula", context=["mi pareja me pega"]
    )
    case = opened.case
    assert not opened.reopened and not opened.already_open
    assert (case.status, case.category, case.urgency, case.team) == (
        QUEUED,
        "violence",
        "high",
        "gbv",
    )
    assert (case.country, case.area, case.language, case.channel) == (
        "MX",
        "Tapachula",
        "es",
        "webchat",
    )
    assert cases.open_case_of("person-0001").id == case.id
    assert cases.open_case_of("someone-else") is None
    [said] = cases.messages(case.id)
    assert (said.author, said.text, said.status) == (
        "person",
        "mi pareja me pega",
        RECEIVED,
    )


def test_opening_twice_gives_the_same_case_with_the_higher_urgency(cases):
    first = open_case(cases, category="request_human").case
    again = open_case(cases, category="self_harm")
    assert again.already_open and again.case.id == first.id
    assert cases.open_case_of("person-0001").urgency == "urgent"


def test_unknown_category_is_refused(cases):
    with pytest.raises(CaseError):
        open_case(cases, category="weather")


def test_the_queue_is_by_urgency_then_waiting_time_and_by_team(cases):
    ana = worker(cases, "ana", teams=("gbv", "general"))
    boss = worker(cases, "boss", teams=(), role="supervisor")
    late = NOW + dt.timedelta(minutes=5)
    open_case(cases, "p-normal-1", "request_human", now=NOW)
    open_case(cases, "p-high-old", "violence", now=NOW)
    open_case(cases, "p-urgent-1", "danger", now=late)
    open_case(cases, "p-child-01", "child_at_risk", now=NOW)
    seen = [c.conversation_id for c in cases.queue(ana)]
    assert seen == ["p-urgent-1", "p-high-old", "p-normal-1"]
    everything = [c.conversation_id for c in cases.queue(boss)]
    assert everything[0] == "p-urgent-1" and len(everything) == 4
    child = cases.open_case_of("p-child-01")
    with pytest.raises(NotFound):
        cases.case(child.id, ana)


def test_one_claim_wins(cases):
    case = open_case(cases).case
    ana, bea = worker(cases, "ana"), worker(cases, "bea")
    claimed = cases.claim(case_id=case.id, caseworker=ana, notice="se unió")
    assert (claimed.status, claimed.assignee_id) == (ACTIVE, ana.id)
    with pytest.raises(Conflict):
        cases.claim(case_id=case.id, caseworker=bea, notice="se unió")
    notice = cases.messages(case.id)[-1]
    assert (notice.author, notice.text, notice.status) == ("system", "se unió", PENDING)


def test_replies_need_the_claim_and_the_assignee(cases):
    case = open_case(cases).case
    ana, bea = worker(cases, "ana"), worker(cases, "bea")
    with pytest.raises(Conflict):
        cases.reply(case_id=case.id, caseworker=ana, text="hola")
    cases.claim(case_id=case.id, caseworker=ana, notice="n")
    with pytest.raises(Forbidden):
        cases.reply(case_id=case.id, caseworker=bea, text="hola")
    for empty in ("", "   "):
        with pytest.raises(CaseError):
            cases.reply(case_id=case.id, caseworker=ana, text=empty)
    with pytest.raises(CaseError):
        cases.reply(case_id=case.id, caseworker=ana, text="x" * 5000)
    message = cases.reply(case_id=case.id, caseworker=ana, text="Hola, soy Ana")
    assert (message.author, message.status) == ("caseworker", PENDING)


def test_the_local_chat_picks_up_what_the_team_wrote_once(cases):
    case = open_case(cases).case
    ana = worker(cases)
    cases.claim(case_id=case.id, caseworker=ana, notice="joined")
    cases.reply(case_id=case.id, caseworker=ana, text="hola")
    assert cases.pick_up("person-0001", channel="callback") == []  # pushed, not polled
    fetched = cases.pick_up("person-0001", channel="webchat")
    assert [m.text for m in fetched] == ["joined", "hola"]
    assert cases.pick_up("person-0001", channel="webchat") == []
    assert {m.status for m in cases.messages(case.id)[1:]} == {DELIVERED}


def test_delivery_is_in_order_per_case_with_backoff_then_failure(cases):
    case = open_case(cases, channel="callback").case
    ana = worker(cases)
    cases.claim(case_id=case.id, caseworker=ana, notice="joined")
    cases.reply(case_id=case.id, caseworker=ana, text="second")
    [(first, _)] = cases.due_messages(["callback"], now=NOW)
    assert first.text == "joined"  # the later one waits for it
    assert cases.due_messages(["telegram"], now=NOW) == []
    moment = NOW
    for attempt, wait in enumerate(RETRY_AFTER, start=1):
        assert cases.mark_failed(first.id, "HTTP 500", now=moment) == PENDING
        assert cases.due_messages(["callback"], now=moment) == []  # still in order
        moment += dt.timedelta(seconds=wait)
        [(again, _)] = cases.due_messages(["callback"], now=moment)
        assert again.id == first.id and again.attempts == attempt
    assert cases.mark_failed(first.id, "HTTP 500", now=moment) == FAILED
    failed = cases.messages(case.id)[-2]
    assert (failed.status, failed.error) == (FAILED, "HTTP 500")
    # The failed one is visible and no longer holds up the rest.
    [(second, _)] = cases.due_messages(["callback"], now=moment)
    assert second.text == "second"
    cases.mark_sent(second.id)
    cases.retry(case_id=case.id, message_id=first.id, caseworker=ana)
    [(retried, _)] = cases.due_messages(["callback"], now=moment)
    assert retried.id == first.id
    cases.mark_sent(first.id)
    assert {m.status for m in cases.messages(case.id) if m.author != "person"} == {SENT}


def test_people_still_waiting_are_told_once(cases):
    case = open_case(cases).case
    open_case(cases, "after-hours", told_waiting=True)
    later = NOW + dt.timedelta(minutes=11)
    waiting = cases.unclaimed_since(NOW + dt.timedelta(minutes=1))
    assert [c.id for c in waiting] == [case.id]
    assert cases.notify_waiting(case_id=case.id, notice="todavía nadie", now=later)
    assert not cases.notify_waiting(case_id=case.id, notice="todavía nadie", now=later)
    assert cases.unclaimed_since(later) == []
    assert cases.messages(case.id)[-1].text == "todavía nadie"


def test_a_danger_cue_in_the_case_raises_its_urgency(cases):
    case = open_case(cases, category="request_human").case
    cases.add_person_message(case_id=case.id, text="me siguen", category="danger")
    assert cases.open_case_of("person-0001").urgency == "urgent"
    assert cases.messages(case.id)[-1].text == "me siguen"


def test_notes_are_private_and_audited(cases):
    case = open_case(cases).case
    ana = worker(cases)
    cases.add_note(case_id=case.id, caseworker=ana, text="derivar a salud")
    assert [n.text for n in cases.notes(case.id)] == ["derivar a salud"]
    assert all(m.author == "person" for m in cases.messages(case.id))
    assert "noted" in [e.action for e in cases.events(case.id)]


def test_transfer_to_a_team_or_a_person(cases):
    case = open_case(cases).case
    ana = worker(cases, "ana", teams=("gbv",))
    worker(cases, "leo", teams=("psychosocial",))
    boss = worker(cases, "boss", teams=(), role="supervisor")
    cases.claim(case_id=case.id, caseworker=ana, notice="n")
    moved = cases.transfer(
        case_id=case.id, caseworker=ana, to_team="psychosocial", notice="t"
    )
    assert (moved.team, moved.status, moved.assignee_id) == (
        "psychosocial",
        QUEUED,
        None,
    )
    with pytest.raises(NotFound):  # ana no longer sees it
        cases.case(case.id, ana)
    moved = cases.transfer(
        case_id=case.id, caseworker=boss, to_username="leo", notice="t"
    )
    assert moved.status == ACTIVE
    assert cases.caseworker_names()[moved.assignee_id] == "leo"
    with pytest.raises(CaseError):
        cases.transfer(case_id=case.id, caseworker=boss, to_team="nowhere", notice="t")
    with pytest.raises(CaseError):
        cases.transfer(
            case_id=case.id, caseworker=boss, to_username="ghost", notice="t"
        )


def test_close_then_the_person_reopens_within_the_window_only(cases):
    case = open_case(cases).case
    ana = worker(cases)
    cases.claim(case_id=case.id, caseworker=ana, notice="n")
    with pytest.raises(CaseError):
        cases.close(case_id=case.id, caseworker=ana, outcome="whatever", notice="c")
    closed = cases.close(
        case_id=case.id, caseworker=ana, outcome="referred", notice="c"
    )
    assert (closed.status, closed.outcome) == (CLOSED, "referred")
    assert cases.open_case_of("person-0001") is None
    window = dt.timedelta(hours=72)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    again = open_case(cases, category="request_human", reopen_within=window, now=soon)
    assert again.reopened and again.case.id == case.id
    assert again.case.status == QUEUED
    cases.claim(case_id=case.id, caseworker=ana, notice="n")
    cases.close(case_id=case.id, caseworker=ana, outcome="referred", notice="c")
    much_later = soon + dt.timedelta(days=4)
    fresh = open_case(
        cases, category="request_human", reopen_within=window, now=much_later
    )
    assert not fresh.reopened and fresh.case.id != case.id


def test_a_caseworker_can_reopen_a_closed_case(cases):
    case = open_case(cases).case
    ana = worker(cases)
    cases.claim(case_id=case.id, caseworker=ana, notice="n")
    with pytest.raises(Conflict):
        cases.reopen(case_id=case.id, caseworker=ana, notice="r")
    cases.close(case_id=case.id, caseworker=ana, outcome="no_response", notice="c")
    reopened = cases.reopen(case_id=case.id, caseworker=ana, notice="r")
    assert (reopened.status, reopened.assignee_id, reopened.reopened) == (
        ACTIVE,
        ana.id,
        1,
    )


def test_accounts_lock_after_repeated_failures(cases):
    cases.create_caseworker(username="ana", password=PASSWORD, teams=["gbv"])
    for _ in range(5):
        assert cases.log_in("ana", "wrong password!", now=NOW) is None
    assert cases.log_in("ana", PASSWORD, now=NOW) is None  # locked, even when right
    assert cases.log_in("ana", PASSWORD, now=NOW + dt.timedelta(minutes=16))
    assert cases.log_in("nobody", PASSWORD) is None


def test_sessions_end_on_logout_expiry_and_disabling(cases):
    cases.create_caseworker(username="ana", password=PASSWORD, teams=["gbv"])
    token = cases.log_in("ana", PASSWORD, now=NOW)
    assert cases.caseworker_for(token, now=NOW).username == "ana"
    assert cases.caseworker_for(token, now=NOW + dt.timedelta(hours=9)) is None
    assert cases.caseworker_for("forged-token", now=NOW) is None
    token = cases.log_in("ana", PASSWORD)
    cases.log_out(token)
    assert cases.caseworker_for(token) is None
    token = cases.log_in("ana", PASSWORD)
    cases.set_disabled("ana")
    assert cases.caseworker_for(token) is None
    assert cases.log_in("ana", PASSWORD) is None


def test_passwords_are_hashed_and_accounts_checked(cases):
    cases.create_caseworker(username="ana", password=PASSWORD, teams=["gbv"])
    with cases.session() as session:
        stored = session.execute(text("select password_hash from caseworker")).scalar()
    assert stored.startswith("$argon2") and PASSWORD not in stored
    for bad in (
        {"username": "ana", "password": PASSWORD, "teams": ["gbv"]},  # taken
        {"username": "bea", "password": "short", "teams": ["gbv"]},
        {"username": "bea", "password": PASSWORD, "teams": []},
        {"username": "bea", "password": PASSWORD, "teams": ["nowhere"]},
        {"username": "bea", "password": PASSWORD, "teams": ["gbv"], "role": "god"},
    ):
        with pytest.raises(CaseError):
            cases.create_caseworker(**bad)


def test_a_message_to_a_case_closed_a_moment_ago_is_refused(cases):
    case = open_case(cases).case
    ana = worker(cases)
    cases.close(case_id=case.id, caseworker=ana, outcome="no_response", notice="c")
    with pytest.raises(NotFound):
        cases.add_person_message(case_id=case.id, text="sigo aqui")
    assert [m.text for m in cases.messages(case.id)] == ["c"]


def test_two_processes_opening_at_once_get_one_case(cases, monkeypatch):
    first = open_case(cases).case
    real = CaseStore._open_case_of
    calls = []

    def blind_once(session, conversation_id):  # as if the other insert was unseen
        calls.append(conversation_id)
        return None if len(calls) == 1 else real(session, conversation_id)

    monkeypatch.setattr(CaseStore, "_open_case_of", staticmethod(blind_once))
    again = open_case(cases, category="danger")
    assert again.already_open and again.case.id == first.id
    monkeypatch.setattr(CaseStore, "_open_case_of", staticmethod(real))
    assert len([c for c in cases.queue(worker(cases, "boss", (), "supervisor"))]) == 1


def test_a_reopened_case_goes_to_whoever_is_free_in_the_right_team(cases):
    case = open_case(cases, category="request_human").case
    ana = worker(cases, "ana", teams=("general",))
    cases.claim(case_id=case.id, caseworker=ana, notice="n")
    cases.close(case_id=case.id, caseworker=ana, outcome="referred", notice="c")
    again = open_case(
        cases, category="self_harm", now=dt.datetime.now(dt.timezone.utc)
    ).case
    assert (again.id, again.status, again.assignee_id) == (case.id, QUEUED, None)
    assert (again.category, again.team, again.urgency) == (
        "self_harm",
        "psychosocial",
        "urgent",
    )


def test_canned_replies_are_seeded_once_in_the_store_s_life(cases):
    rows = [("es", "Hola", "Hola, ¿cómo estás?"), ("en", "Hi", "Hi, how are you?")]
    read = []

    def first_replies():
        read.append(1)
        return rows

    assert cases.seed_templates(first_replies) == 2
    assert cases.seed_templates(first_replies) == 0 and len(read) == 1
    sue = worker(cases, "sue", (), "supervisor")
    for template in cases.templates():
        cases.delete_template(caseworker=sue, template_id=template.id)
    # A supervisor who deleted them all meant it: a restart does not bring them back.
    assert cases.seed_templates(first_replies) == 0 and cases.templates() == []
    with pytest.raises(Forbidden):
        cases.save_template(
            caseworker=worker(cases), language="es", title="x", text="y"
        )


def test_the_audit_trail_gives_its_newest_entries_oldest_first(cases):
    case = open_case(cases).case
    ana = worker(cases)
    for text_ in ("uno", "dos", "tres"):
        cases.add_note(case_id=case.id, caseworker=ana, text=text_)
    everything = cases.events(case.id)
    assert [e.action for e in everything] == ["opened", "noted", "noted", "noted"]
    assert [e.id for e in cases.events(case.id, limit=2)] == [
        e.id for e in everything[-2:]
    ]
