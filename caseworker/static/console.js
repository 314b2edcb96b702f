'use strict';
/*
 * Amparo caseworker desk — the console in the browser. Plain ES2020, no dependencies.
 * Views come from hash routes (#/, #/cases/N, #/templates, #/audit); one poller keeps
 * the current view fresh and is stopped when the route changes.
 *
 * Everything the server sends (messages, notes, names, error texts) is untrusted: the
 * DOM is only built with createElement / textContent (see el()), never innerHTML.
 */

const APP = 'Amparo desk';
const QUEUE_MS = 3000;
const CASE_MS = 2000;
const TIMEOUT_MS = 20000;
const AUDIT_ROWS = 500;
const LANGS = { es: 'Spanish', en: 'English', pt: 'Portuguese' };

let me = null; // GET /api/me
let csrf = '';
let routeGen = 0; // bumped on every route change; late answers check it before drawing
let showClosed = false;
const seenCases = new Set(); // to announce new cases in the queue
let queueSeeded = false;
// Unsent text survives re-renders and visits to other cases, but only in memory:
// desks are often shared laptops, so nothing people told us goes into storage.
const drafts = { reply: new Map(), note: new Map() };

/* ---- helpers ---- */

const $ = (selector, root = document) => root.querySelector(selector);

/** createElement with attributes and children; strings become text nodes (safe). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'value') node.value = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const list = (x) => (Array.isArray(x) ? x : []);
const words = (v) => (v === null || v === undefined || v === '' ? '—' : String(v).replace(/_/g, ' '));
const token = (v) => String(v ?? '').toLowerCase().replace(/[^a-z0-9_-]/g, '');
const langName = (code) => (LANGS[code] ? `${LANGS[code]} (${code})` : words(code));
const caseHref = (id) => `#/cases/${encodeURIComponent(id)}`;
const caseLink = (id) => el('a', { href: caseHref(id) }, `Case ${id}`);
const badge = (kind, value) => el('span', { class: `badge ${kind}-${token(value)}` }, words(value));
const field = (label, control) => el('div', { class: 'field' }, el('label', { for: control.id }, label), control);
const button = (text, attrs = {}) => el('button', { type: 'button', ...attrs }, text);
const heading = (text) => el('h1', { tabindex: '-1' }, text);
const pad = (n) => String(n).padStart(2, '0');

function toDate(iso) {
  const d = iso ? new Date(iso) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
}
const hhmm = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** Local HH:MM, with the day in front when it is not today. */
function clock(iso) {
  const d = toDate(iso);
  if (!d) return '—';
  if (d.toDateString() === new Date().toDateString()) return hhmm(d);
  return `${d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} ${hhmm(d)}`;
}
function fullTime(iso) {
  const d = toDate(iso);
  return d ? `${d.toLocaleDateString()} ${hhmm(d)}` : '—';
}
function timeEl(iso, text = clock(iso)) {
  const d = toDate(iso);
  return el('time', { datetime: d && iso, title: d && d.toLocaleString() }, text);
}

/** "< 1 min", "3 min", "2 h 5 min", "1 d 3 h". */
function duration(seconds) {
  const m = Math.floor(Math.max(0, Number(seconds) || 0) / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (m < 1) return '< 1 min';
  if (m < 60) return `${m} min`;
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/* ---- feedback ---- */

function showError(text) {
  const box = $('#error');
  if (box.textContent !== text) box.textContent = text; // no re-announcing the same
}
const clearError = () => { $('#error').textContent = ''; };

let announceTimer = 0;
/** A polite, visible note ("New case 12 …", "Note added."), gone after a while. */
function announce(text) {
  $('#announce').textContent = text;
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { $('#announce').textContent = ''; }, 20000);
}

let online = true;
function setOnline(ok) {
  if (ok === online) return;
  online = ok;
  $('#connection').textContent = ok ? '' : 'Connection lost — retrying…';
  if (ok) announce('Connection restored.');
}

/* ---- API ---- */

/**
 * One API request. Resolves with the JSON answer; rejects with an Error carrying the
 * server's {"error"} text, .status, and .offline (no answer, a timeout, or a bare 5xx
 * from a proxy: worth retrying). A 401 goes to the login page.
 */
async function api(method, path, body, retried = false) {
  const headers = { Accept: 'application/json' };
  const options = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRF-Token'] = csrf;
    options.body = JSON.stringify(body ?? {}); // the server wants a JSON object
  }
  // Flaky links: give up after a while so that the poller tries again.
  const abort = new AbortController();
  options.signal = abort.signal;
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let answer;
  let data = null;
  try {
    answer = await fetch(path, options);
    try { data = await answer.json(); } catch { /* empty or not JSON */ }
  } catch {
    throw Object.assign(new Error('Cannot reach the server. Check the connection and try again.'), { offline: true, status: 0 });
  } finally {
    clearTimeout(timer);
  }
  if (answer.status === 401) {
    poller.stop();
    window.location = '/login';
    return new Promise(() => {}); // never settles: nothing more happens on this page
  }
  // The CSRF token changes with the session (say, after logging in again in another
  // tab): fetch the current one and try once more, but only as the same caseworker.
  // If someone else has logged in in this browser meanwhile, start afresh as them:
  // never send what this page's caseworker wrote under another name.
  if (answer.status === 403 && method !== 'GET' && !retried) {
    let fresh = null;
    try { fresh = await api('GET', '/api/me'); } catch { /* report the first 403 */ }
    if (fresh && me && fresh.username !== me.username) {
      poller.stop();
      window.location.reload();
      return new Promise(() => {});
    }
    if (fresh && fresh.csrf && fresh.csrf !== csrf) {
      csrf = fresh.csrf;
      return api(method, path, body, true);
    }
  }
  if (!answer.ok) {
    const text = data && typeof data.error === 'string' && data.error;
    throw Object.assign(new Error(text || `The server answered ${answer.status}. Please try again.`),
      { status: answer.status, offline: answer.status >= 500 && !text });
  }
  return data || {};
}

/** Work behind a button: disabled meanwhile, errors shown, then after(ok) (a refresh). */
async function act(btn, work, after) {
  if (btn) btn.disabled = true;
  clearError();
  let ok = false;
  try {
    await work();
    ok = true;
  } catch (problem) {
    showError(problem.message);
  }
  if (btn) btn.disabled = false;
  if (after) after(ok);
}

/* ---- poller ---- */

/**
 * The one poller. A tick starts only when the last one ended (no pile-up on slow
 * links). fn(fresh): fresh() says whether its answer is still wanted: not after a
 * route change, nor when now() asked for a new poll meanwhile (that answer may
 * predate the action just taken: it is dropped and the poll repeated).
 */
const poller = {
  fn: null, ms: 0, timer: 0, gen: 0, epoch: 0, busy: false, again: false,
  start(fn, ms) {
    this.stop();
    Object.assign(this, { fn, ms });
    this.run(this.gen);
  },
  stop() {
    this.gen += 1;
    clearTimeout(this.timer);
    Object.assign(this, { fn: null, busy: false, again: false });
  },
  now() {
    if (!this.fn) return;
    this.epoch += 1;
    if (this.busy) { this.again = true; return; }
    clearTimeout(this.timer);
    this.run(this.gen);
  },
  async run(gen) {
    this.busy = true;
    const epoch = this.epoch;
    try {
      await this.fn(() => gen === this.gen && epoch === this.epoch);
      if (gen === this.gen) setOnline(true);
    } catch (problem) {
      if (gen !== this.gen) return;
      if (problem.offline) setOnline(false);
      else showError(problem.message);
    }
    if (gen !== this.gen) return; // stopped meanwhile
    this.busy = false;
    if (this.again) { this.again = false; this.run(gen); }
    // A tab in the background asks less often; coming back asks at once (below).
    else this.timer = setTimeout(() => this.run(gen), document.hidden ? this.ms * 5 : this.ms);
  },
};

/* ---- queue ---- */

const COLUMNS = ['Case', 'Urgency', 'Waiting', 'Category', 'Language', 'Channel', 'Team', 'Status', 'Assignee', 'Action'];

/** Redraws a cell only when what it shows changed (keeps focus, no flicker). */
function fillCell(cell, key, build) {
  const k = String(key);
  if (cell.shown === k) return;
  cell.shown = k;
  cell.replaceChildren(...[build()].flat());
}

function queueRow(c) {
  const row = el('tr', { 'data-case-id': String(c.id) }, el('th', { scope: 'row' }, caseLink(c.id)));
  for (const label of COLUMNS.slice(1)) row.append(el('td', { 'data-label': label }));
  return row;
}

function updateRow(row, c) {
  const cells = row.cells;
  const waiting = c.status === 'closed' ? '—' : duration(c.waiting_seconds);
  const queued = c.status === 'queued';
  fillCell(cells[1], c.urgency, () => badge('urgency', c.urgency));
  fillCell(cells[2], waiting, () => waiting);
  fillCell(cells[3], c.category, () => words(c.category));
  fillCell(cells[4], c.language, () => langName(c.language));
  fillCell(cells[5], c.channel, () => words(c.channel));
  fillCell(cells[6], c.team, () => words(c.team));
  // An active case whose person wrote last is waiting for its caseworker's answer.
  const unanswered = c.status === 'active' && c.last_author === 'person';
  fillCell(cells[7], `${c.status}|${unanswered}`, () => [badge('status', c.status),
    unanswered ? el('span', { class: 'unanswered' }, ' · new message') : '']);
  fillCell(cells[8], c.assignee, () => c.assignee || '—');
  fillCell(cells[9], queued, () => (queued ? button('Claim', { class: 'claim small', 'aria-label': `Claim case ${c.id}` }) : ''));
  row.classList.toggle('is-closed', c.status === 'closed');
}

function renderQueue(main) {
  document.title = APP;
  const rows = new Map(); // case id -> <tr>, kept between polls
  const toggle = el('input', { type: 'checkbox', id: 'show-closed', checked: showClosed });
  const tbody = el('tbody');
  // A scrollable region must be focusable, so that keyboards can scroll it.
  const wrap = el('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Case queue', tabindex: '0', hidden: true },
    el('table', { id: 'queue' },
      el('caption', { class: 'visually-hidden' }, 'Cases: most urgent first, then longest waiting'),
      el('thead', {}, el('tr', {}, COLUMNS.map((h) => el('th', { scope: 'col' }, h)))),
      tbody));
  const empty = el('p', { id: 'queue-empty', class: 'empty', hidden: true });
  const loading = el('p', { class: 'muted' }, 'Loading cases…');
  main.replaceChildren(
    el('div', { class: 'view-head' }, heading('Queue'),
      el('div', { class: 'check' }, toggle, el('label', { for: 'show-closed' }, 'Show closed'))),
    loading, wrap, empty);

  toggle.addEventListener('change', () => { showClosed = toggle.checked; poller.now(); });
  tbody.addEventListener('click', (event) => {
    const btn = event.target.closest('button.claim');
    if (!btn) return;
    const id = btn.closest('tr').dataset.caseId;
    act(btn, () => api('POST', `/api/cases/${encodeURIComponent(id)}/claim`), (ok) => {
      if (!ok) { poller.now(); return; } // say a 409: someone was quicker; show who
      announce(`Case ${id} is now yours.`);
      window.location.hash = caseHref(id);
    });
  });

  poller.start(async (fresh) => {
    const closed = showClosed;
    const data = await api('GET', closed ? '/api/cases?closed=1' : '/api/cases');
    if (!fresh() || closed !== showClosed) return;
    loading.remove();
    draw(list(data.cases));
  }, QUEUE_MS);

  function draw(cases) {
    const focused = document.activeElement;
    const wanted = new Set();
    for (const c of cases) {
      if (wanted.has(c.id)) continue;
      let row = rows.get(c.id);
      if (!row) rows.set(c.id, (row = queueRow(c)));
      updateRow(row, c);
      // Rows move only when the order changed: focus and reading position stay.
      const there = tbody.children[wanted.size];
      if (there !== row) tbody.insertBefore(row, there || null);
      wanted.add(c.id);
    }
    for (const [id, row] of rows) if (!wanted.has(id)) { row.remove(); rows.delete(id); }
    if (focused && focused !== document.activeElement && focused !== document.body) {
      // Moving a row can drop focus: put it back (on the table if its row left).
      (focused.isConnected ? focused : wrap).focus({ preventScroll: true });
    }
    wrap.hidden = !cases.length;
    empty.hidden = !!cases.length;
    empty.textContent = showClosed ? 'No cases.' : 'No open cases.';

    const queued = cases.filter((c) => c.status === 'queued').length;
    document.title = queued ? `(${queued}) ${APP}` : APP;

    const arrived = cases.filter((c) => !seenCases.has(c.id) && c.status !== 'closed');
    cases.forEach((c) => seenCases.add(c.id));
    if (queueSeeded && arrived.length === 1) {
      const c = arrived[0];
      announce(`New case ${c.id}: ${words(c.urgency)}, ${words(c.category)}, ${langName(c.language)}.`);
    } else if (queueSeeded && arrived.length > 1) {
      announce(`${arrived.length} new cases: ${arrived.map((c) => `${c.id} (${words(c.urgency)})`).join(', ')}.`);
    }
    queueSeeded = true;
  }
}

/* ---- conversation ---- */

function renderCase(main, id, live) {
  document.title = `Case ${id} — ${APP}`;
  const v = {
    id,
    live, // false once the route changed: late answers must not draw
    path: `/api/cases/${encodeURIComponent(id)}`,
    messages: new Map(), // message id -> <li>
    notes: new Map(), // note id -> <li>
    keys: {}, // what each part was last drawn from
    templates: null, // null: loading, false: failed
    language: undefined, // of the loaded templates
    colleagues: null,
    inserted: null, // the canned reply inserted last, see insertTemplate()
    stick: true, // scroll the conversation to the bottom on the next draw
    first: true,
    focus: null, // selector to focus once the next fresh answer is drawn
  };

  const noteBox = el('textarea', { id: 'note', rows: '3', 'aria-describedby': 'note-hint' });
  noteBox.value = drafts.note.get(id) || '';
  noteBox.addEventListener('input', () => drafts.note.set(id, noteBox.value));
  const noteForm = el('form', { id: 'note-form' },
    el('label', { for: 'note' }, 'Private note (never sent)'), noteBox,
    el('p', { id: 'note-hint', class: 'hint' }, 'For the team only; the person never sees notes.'),
    el('button', { type: 'submit', id: 'add-note' }, 'Add note'));
  noteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = noteBox.value.trim();
    if (!text) { showError('Write the note first.'); noteBox.focus(); return; }
    act($('#add-note'), () => api('POST', `${v.path}/notes`, { text }), (ok) => {
      if (ok) {
        noteBox.value = '';
        drafts.note.delete(id);
        announce('Note added.');
      }
      poller.now();
    });
  });

  const loading = el('p', { class: 'muted' }, 'Loading the conversation…');
  const grid = el('div', { class: 'case-grid', hidden: true },
    el('section', { class: 'case-facts', 'aria-labelledby': 'facts-h' },
      el('h2', { id: 'facts-h' }, 'About this case'),
      el('dl', { id: 'case-facts', class: 'facts' }),
      me.role === 'supervisor' && el('p', {}, el('a', { href: `#/audit?case=${encodeURIComponent(id)}` }, 'Audit log of this case'))),
    el('section', { class: 'case-talk', 'aria-labelledby': 'talk-h' },
      el('h2', { id: 'talk-h' }, 'Conversation'),
      el('ol', { id: 'messages', tabindex: '0', 'aria-labelledby': 'talk-h' }),
      el('p', { id: 'no-messages', class: 'muted', hidden: true }, 'No messages yet.'),
      el('div', { id: 'reply-area' })),
    el('section', { class: 'case-side', 'aria-labelledby': 'notes-h' },
      el('div', { id: 'case-actions' }),
      el('h2', { id: 'notes-h' }, 'Private notes'), noteForm,
      el('ul', { id: 'notes' }),
      el('p', { id: 'no-notes', class: 'muted' }, 'No notes yet.')));
  main.replaceChildren(el('p', { class: 'back' }, el('a', { href: '#/' }, '← Back to the queue')),
    heading(`Case ${id}`), loading, grid);

  loadColleagues(v);
  poller.start(async (fresh) => {
    let data;
    try {
      data = await api('GET', v.path);
    } catch (problem) {
      if (!fresh()) return;
      if (problem.status !== 404 && problem.status !== 403) throw problem;
      poller.stop();
      data = { gone: problem.message };
    }
    if (!fresh() && !data.gone) return;
    loading.remove();
    grid.hidden = false;
    if (data.gone) {
      grid.replaceChildren(el('p', {}, `Case ${id} is not available to you: ${data.gone}. `
        + 'It may belong to another team, or have been transferred.'));
    } else if (data.case) {
      drawCase(v, data);
    }
  }, CASE_MS);
}

/** Whether a part must be redrawn: its key differs from the one it was drawn from. */
function changed(v, part, key) {
  if (v.keys[part] === key) return false;
  v.keys[part] = key;
  return true;
}

function drawCase(v, data) {
  const c = data.case;
  drawFacts(v, c, data);
  drawMessages(v, list(data.messages));
  drawNotes(v, list(data.notes));
  drawReplyArea(v, c);
  drawActions(v, c);
  if (v.language !== c.language) loadTemplates(v, c.language);
  if (v.focus) {
    const target = $(v.focus);
    if (target) target.focus();
    v.focus = null;
  }
  v.first = false;
}

function drawFacts(v, c, data) {
  const rows = [
    ['Person', c.person || '—'],
    ['Status', badge('status', c.status)],
    ['Assigned to', c.assignee || 'nobody yet'],
    ['Urgency', badge('urgency', c.urgency)],
    ['Category', words(c.category)],
    ['Language', langName(c.language)],
    ['Channel', words(c.channel)],
    ['Team', words(c.team)],
    ['Country / area', [c.country, c.area].filter(Boolean).join(' — ') || 'unknown'],
    ['Opened', `${fullTime(c.opened_at)} (${duration(c.waiting_seconds)} ago)`],
  ];
  // Only where the operator lets the desk show phone numbers, and only when asked for:
  // each look is audited, and a screen others can see shows no number by itself.
  if (c.has_address) rows.push(['Phone (for call-backs)', addressControl(v)]);
  if (c.status === 'closed') rows.push(['Outcome', words(c.outcome)], ['Closed', fullTime(c.closed_at)]);
  if (c.reopened) rows.push(['Reopened', `${c.reopened} ×`]);
  if (!changed(v, 'facts', JSON.stringify(rows.map(([k, val]) => [k, val.textContent ?? val])))) return;
  $('#case-facts').replaceChildren(...rows.map(([k, val]) => el('div', {}, el('dt', {}, k), el('dd', {}, val))));
}

function addressControl(v) {
  if (v.address !== undefined) return el('span', { id: 'address' }, v.address || 'not available');
  const show = button('Show number', { id: 'show-address', class: 'secondary small' });
  show.addEventListener('click', () => act(show, async () => {
    v.address = (await api('POST', `${v.path}/address`)).address || null;
  }, () => poller.now()));
  return show;
}

function messageItem(m) {
  const author = ['person', 'caseworker', 'system'].includes(m.author) ? m.author : 'system';
  const who = { person: 'Person', system: 'Automatic notice' }[author] || m.by || 'Caseworker';
  return el('li', { class: `message from-${author}`, 'data-message-id': String(m.id) },
    el('div', { class: 'meta' }, el('span', { class: 'who' }, who), timeEl(m.at)),
    el('p', { class: 'text' }, m.text ?? ''),
    author !== 'person' && el('div', { class: 'delivery' }));
}

function drawDelivery(v, item, m) {
  const holder = $('.delivery', item);
  const key = `${m.status}|${m.error || ''}`;
  if (!holder || holder.shown === key) return;
  holder.shown = key;
  const failed = m.status === 'failed';
  const parts = [el('span', { class: 'visually-hidden' }, 'Delivery: '),
    el('span', { class: `state state-${token(m.status)}` }, failed ? (m.error ? `failed: ${m.error}` : 'failed') : words(m.status))];
  if (failed) {
    const retry = button('Retry', { class: 'retry small', 'aria-label': `Retry the message of ${clock(m.at)}` });
    retry.addEventListener('click', () => act(retry, () => api('POST', `${v.path}/messages/${encodeURIComponent(m.id)}/retry`),
      (ok) => { if (ok) announce('The message will be sent again.'); poller.now(); }));
    parts.push(retry);
  }
  const hadFocus = holder.contains(document.activeElement);
  holder.replaceChildren(...parts);
  if (hadFocus) $('#messages').focus({ preventScroll: true });
}

function drawMessages(v, messages) {
  const box = $('#messages');
  // Follow new messages only when the reader was at the bottom already.
  const atBottom = v.stick || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  let fromPerson = 0;
  for (const m of messages) {
    let item = v.messages.get(m.id);
    if (!item) {
      v.messages.set(m.id, (item = messageItem(m)));
      box.append(item);
      if (!v.first && m.author === 'person') fromPerson += 1;
    }
    drawDelivery(v, item, m);
  }
  $('#no-messages').hidden = messages.length > 0;
  if (atBottom) box.scrollTop = box.scrollHeight;
  v.stick = false;
  if (fromPerson) announce(fromPerson === 1 ? 'New message from the person.' : `${fromPerson} new messages from the person.`);
}

function drawNotes(v, notes) {
  for (const n of notes) {
    if (v.notes.has(n.id)) continue;
    const item = el('li', { class: 'note' },
      el('div', { class: 'meta' }, el('span', { class: 'who' }, n.by || 'system'), timeEl(n.at)),
      el('p', { class: 'text' }, n.text ?? ''));
    v.notes.set(n.id, item);
    $('#notes').append(item);
  }
  $('#no-notes').hidden = notes.length > 0;
}

/** Claim, reply or reopen: the main thing to do, under the conversation. */
function drawReplyArea(v, c) {
  const mine = c.assignee === me.username || me.role === 'supervisor';
  if (!changed(v, 'reply', `${c.status}|${mine}`)) return; // typing is never disturbed
  const area = $('#reply-area');
  const hadFocus = area.contains(document.activeElement);
  const post = (what, done) => () => act($(`#${what}`), () => api('POST', `${v.path}/${what}`), (ok) => {
    if (ok) done();
    poller.now(); // after a 409 too: show who has the case now
  });
  if (c.status === 'active' && mine) {
    area.replaceChildren(replyForm(v));
  } else if (c.status === 'active') {
    area.replaceChildren(el('p', {}, `${c.assignee || 'A colleague'} has this case: they reply to the person.`));
  } else if (c.status === 'queued') {
    const claim = button('Claim', { id: 'claim' });
    claim.addEventListener('click', post('claim', () => { announce(`Case ${v.id} is now yours.`); v.focus = '#reply'; }));
    area.replaceChildren(el('p', {}, 'Nobody has taken this case yet. Claim it to reply.'), claim);
  } else if (c.status === 'closed') {
    const reopen = button('Reopen', { id: 'reopen', class: 'secondary' });
    reopen.addEventListener('click', post('reopen', () => { announce(`Case ${v.id} reopened.`); v.focus = '#reply, #claim'; }));
    area.replaceChildren(el('p', { class: 'closed-note' }, `This case is closed. Outcome: ${words(c.outcome)}.`), reopen);
  } else {
    area.replaceChildren();
  }
  if (hadFocus && !area.contains(document.activeElement)) $('#reply, #claim, #reopen', area)?.focus();
}

function replyForm(v) {
  const box = el('textarea', { id: 'reply', rows: '4', 'aria-describedby': 'reply-hint' });
  box.value = drafts.reply.get(v.id) || '';
  box.addEventListener('input', () => { drafts.reply.set(v.id, box.value); v.inserted = null; });
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send(v); }
  });
  const picker = el('select', { id: 'template' });
  fillPicker(v, picker);
  picker.addEventListener('change', () => insertTemplate(v, picker, box));
  const form = el('form', { id: 'reply-form' },
    field('Canned reply', picker),
    el('label', { for: 'reply' }, 'Reply to the person'), box,
    el('p', { id: 'reply-hint', class: 'hint' }, 'Ctrl+Enter sends. A canned reply only goes into the box, to edit before sending.'),
    el('button', { type: 'submit', id: 'send' }, 'Send'));
  form.addEventListener('submit', (event) => { event.preventDefault(); send(v); });
  return form;
}

function send(v) {
  const box = $('#reply');
  const btn = $('#send');
  if (!box || !btn || btn.disabled) return; // Ctrl+Enter while still sending
  const text = box.value.trim();
  if (!text) { showError('Write a reply first.'); box.focus(); return; }
  box.readOnly = true;
  act(btn, async () => {
    try {
      await api('POST', `${v.path}/messages`, { text });
    } catch (problem) {
      // No answer: the reply may have been stored all the same. Sending it again
      // could give a person in crisis the same message twice.
      if (problem.offline) problem.message = 'The connection dropped while sending: check whether your reply appears in the conversation before sending it again.';
      throw problem;
    }
  }, (ok) => {
    box.readOnly = false;
    if (ok) {
      box.value = '';
      drafts.reply.delete(v.id);
      v.inserted = null;
      const picker = $('#template');
      if (picker) picker.value = '';
      v.stick = true;
      announce('Reply sent for delivery; its status shows under it.');
    }
    poller.now();
  });
}

function fillPicker(v, picker) {
  const all = list(v.templates);
  let first = 'Loading canned replies…';
  if (v.templates === false) first = 'Canned replies could not be loaded';
  else if (v.templates) first = all.length ? 'Choose one to insert…' : 'None for this language';
  picker.replaceChildren(el('option', { value: '' }, first),
    ...all.map((t) => el('option', { value: String(t.id) }, t.title || `Template ${t.id}`)));
}

function insertTemplate(v, picker, box) {
  const chosen = list(v.templates).find((t) => String(t.id) === picker.value);
  if (!chosen) return;
  const text = chosen.text ?? '';
  // Some browsers fire "change" for each arrow key on a closed select: when the text
  // inserted last is still there untouched, replace it instead of piling replies up.
  let start = box.selectionStart ?? box.value.length;
  let end = box.selectionEnd ?? start;
  const last = v.inserted;
  if (last && box.value.slice(last.start, last.start + last.text.length) === last.text) {
    start = last.start;
    end = last.start + last.text.length;
  }
  box.setRangeText(text, start, end, 'end');
  v.inserted = { start, text };
  drafts.reply.set(v.id, box.value);
}

async function loadTemplates(v, language) {
  v.language = language;
  v.templates = null;
  let templates = false;
  try {
    const data = await api('GET', `/api/templates?language=${encodeURIComponent(language || '')}`);
    templates = list(data.templates).filter((t) => !t.language || t.language === language);
  } catch { /* the picker says so */ }
  if (!v.live() || v.language !== language) return;
  v.templates = templates;
  const picker = $('#template');
  if (picker && !picker.value) fillPicker(v, picker);
}

async function loadColleagues(v) {
  try {
    v.colleagues = list((await api('GET', '/api/caseworkers')).caseworkers);
  } catch {
    v.colleagues = false;
  }
  const select = $('#transfer-to');
  if (v.live() && select) fillTransfer(v, select);
}

function fillTransfer(v, select) {
  const chosen = select.value;
  const note = (text) => el('option', { value: '', disabled: true }, text);
  const people = el('optgroup', { label: 'Caseworkers' });
  if (v.colleagues === null) people.append(note('Loading…'));
  else if (v.colleagues === false) people.append(note('Could not load colleagues'));
  else {
    for (const p of v.colleagues) {
      if (p.username === me.username) continue;
      const teams = list(p.teams).length ? ` — ${p.teams.map(words).join(', ')}` : '';
      people.append(el('option', { value: `caseworker:${p.username}` }, `${p.name || p.username} (${p.username})${teams}`));
    }
    if (!people.children.length) people.append(note('No other colleagues'));
  }
  select.replaceChildren(el('option', { value: '' }, 'Choose a colleague or team…'), people,
    el('optgroup', { label: 'Teams' }, list(me.all_teams).map((t) => el('option', { value: `team:${t}` }, words(t)))));
  select.value = chosen;
  if (select.value !== chosen) select.value = '';
}

/** Transfer and close: beside the conversation, for cases not closed yet; erasing
 * the person's data, for supervisors, on any case. */
function drawActions(v, c) {
  if (!changed(v, 'actions', c.status)) return;
  const box = $('#case-actions');
  const erasing = me.role === 'supervisor' ? eraseSection(v) : [];
  if (c.status === 'closed') { box.replaceChildren(...erasing); return; }

  const target = el('select', { id: 'transfer-to' });
  fillTransfer(v, target);
  const transfer = button('Transfer', { id: 'transfer', class: 'secondary' });
  transfer.addEventListener('click', () => {
    const value = target.value;
    if (!value) { showError('Choose a colleague or team to transfer the case to.'); target.focus(); return; }
    const name = value.slice(value.indexOf(':') + 1);
    const label = target.selectedOptions[0].textContent;
    let moved = null;
    act(transfer, async () => {
      moved = (await api('POST', `${v.path}/transfer`, value.startsWith('team:') ? { team: name } : { caseworker: name })).case;
    }, (ok) => {
      if (ok) announce(`Case ${v.id} transferred to ${label}.`);
      // Handed to a team one is not in: the case leaves one's view; back to the queue.
      if (ok && moved && me.role !== 'supervisor' && !list(me.teams).includes(moved.team)) window.location.hash = '#/';
      else poller.now();
    });
  });

  const outcome = el('select', { id: 'outcome' }, el('option', { value: '' }, 'Choose an outcome…'),
    list(me.outcomes).map((o) => el('option', { value: o }, words(o))));
  const close = button('Close case', { id: 'close', class: 'danger' });
  close.addEventListener('click', () => {
    const chosen = outcome.value;
    if (!chosen) { showError('Choose an outcome before closing the case.'); outcome.focus(); return; }
    if (!window.confirm(`Close case ${v.id} with the outcome “${words(chosen)}”?\n`
      + 'The person gets an automatic message that the conversation has ended.')) return;
    act(close, () => api('POST', `${v.path}/close`, { outcome: chosen }), (ok) => {
      if (ok) { announce(`Case ${v.id} closed.`); v.focus = '#reopen'; }
      poller.now();
    });
  });

  box.replaceChildren(el('h2', {}, 'Transfer'), field('Transfer to', target), transfer,
    el('h2', {}, 'Close'), field('Outcome', outcome), close, ...erasing);
}

/** A supervisor erases everything kept about this person, as they can with BORRAR. */
function eraseSection(v) {
  const erase = button('Erase this person’s data', { id: 'erase', class: 'danger' });
  erase.addEventListener('click', () => {
    if (!window.confirm(`Erase everything kept about the person of case ${v.id}?\n`
      + 'All their cases, messages and notes, their contact and their conversation with the bot are deleted. '
      + 'This cannot be undone. The audit log keeps only that you did it.')) return;
    act(erase, () => api('POST', `${v.path}/erase`, {}), (ok) => {
      if (ok) { announce(`The data of the person of case ${v.id} was erased.`); window.location.hash = '#/'; }
    });
  });
  return [el('h2', {}, 'Erase'),
    el('p', { class: 'muted' }, 'When the person asks for it, or the law requires it.'), erase];
}

/* ---- templates ---- */

function renderTemplates(main, live) {
  document.title = `Templates — ${APP}`;
  const editable = me.role === 'supervisor';
  const box = el('div', { id: 'templates' }, el('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(heading('Templates'),
    el('p', { class: 'intro' }, editable
      ? 'Canned replies that caseworkers insert into a reply and edit before sending.'
      : 'Canned replies you can insert into a reply and edit before sending. A supervisor edits them; here they are read-only.'),
    ...(editable ? [templateForm(load)] : []), box);
  load();

  async function load() {
    let data;
    try {
      data = await api('GET', '/api/templates');
    } catch (problem) {
      if (!live()) return;
      showError(problem.message);
      const again = button('Try again', { class: 'secondary' });
      again.addEventListener('click', load);
      box.replaceChildren(el('p', {}, 'The templates could not be loaded.'), again);
      return;
    }
    if (!live()) return;
    const all = list(data.templates);
    const languages = new Set([...Object.keys(LANGS), ...all.map((t) => t.language)]);
    box.replaceChildren(...[...languages].map((language) => {
      const mine = all.filter((t) => t.language === language);
      return el('section', { class: 'template-group', 'aria-label': langName(language) },
        el('h2', {}, langName(language)),
        mine.length
          ? el('ul', { class: 'templates' }, mine.map((t) => templateItem(t, editable, load)))
          : el('p', { class: 'muted' }, 'No templates yet.'));
    }));
  }
}

/** Title and text fields, shared by the add form and the inline editor. */
function templateFields(base, t = {}) {
  const title = el('input', { id: `${base}-title`, type: 'text', required: true, autocomplete: 'off', value: t.title ?? '' });
  const text = el('textarea', { id: `${base}-text`, rows: '4', required: true });
  text.value = t.text ?? '';
  const valid = () => {
    if (title.value.trim() && text.value.trim()) return { title: title.value.trim(), text: text.value.trim() };
    showError('A template needs a title and a text.');
    return null;
  };
  return { title, text, valid, fields: [field('Title', title), field('Text', text)] };
}

function templateForm(load) {
  const language = el('select', { id: 'new-template-language' },
    Object.keys(LANGS).map((l) => el('option', { value: l }, langName(l))));
  const f = templateFields('new-template');
  const add = el('button', { type: 'submit', id: 'add-template' }, 'Add template');
  const form = el('form', { id: 'template-form', class: 'panel' },
    el('h2', {}, 'Add a template'), field('Language', language), f.fields, add);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = f.valid();
    if (!body) return;
    act(add, () => api('POST', '/api/templates', { language: language.value, ...body }), (ok) => {
      if (!ok) return;
      f.title.value = '';
      f.text.value = '';
      announce('Template added.');
      load();
    });
  });
  return form;
}

function templateItem(t, editable, load) {
  const item = el('li', { class: 'template', 'data-template-id': String(t.id) });
  const path = `/api/templates/${encodeURIComponent(t.id)}`;
  const done = (text) => { announce(text); $('#main h1').focus(); load(); };

  function show() {
    item.replaceChildren(el('h3', {}, t.title ?? ''), el('p', { class: 'text' }, t.text ?? ''));
    if (!editable) return;
    const edit = button('Edit', { class: 'secondary small', 'aria-label': `Edit template: ${t.title}` });
    const remove = button('Delete', { class: 'danger small', 'aria-label': `Delete template: ${t.title}` });
    edit.addEventListener('click', editor);
    remove.addEventListener('click', () => {
      if (window.confirm(`Delete the template “${t.title}”?`)) {
        act(remove, () => api('DELETE', path), (ok) => ok && done('Template deleted.'));
      }
    });
    item.append(el('div', { class: 'row' }, edit, remove));
  }

  function editor() {
    const f = templateFields(`template-${token(t.id)}`, t);
    const save = el('button', { type: 'submit' }, 'Save');
    const cancel = button('Cancel', { class: 'secondary' });
    const form = el('form', { class: 'template-edit', 'aria-label': `Edit template: ${t.title}` },
      f.fields, el('div', { class: 'row' }, save, cancel));
    cancel.addEventListener('click', () => { show(); $('button', item).focus(); });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const body = f.valid();
      // On failure the editor stays open with what was typed.
      if (body) act(save, () => api('PUT', path, body), (ok) => ok && done('Template saved.'));
    });
    item.replaceChildren(form);
    f.title.focus();
  }

  show();
  return item;
}

/* ---- audit ---- */

function renderAudit(main, live, params) {
  document.title = `Audit log — ${APP}`;
  if (me.role !== 'supervisor') {
    main.replaceChildren(heading('Audit log'), el('p', {}, 'Only supervisors can see the audit log.'));
    return;
  }
  let filter = (params.get('case') || '').replace(/\D/g, '');
  const input = el('input', { id: 'audit-case', type: 'text', inputmode: 'numeric', pattern: '[0-9]*', size: '8', autocomplete: 'off', value: filter });
  const all = button('Show all', { class: 'secondary' });
  const reload = button('Refresh', { class: 'secondary' });
  const form = el('form', { id: 'audit-filter', class: 'row' },
    field('Case number', input), el('button', { type: 'submit' }, 'Filter'), all, reload);
  const tbody = el('tbody');
  const summary = el('p', { id: 'audit-summary', class: 'muted', 'aria-live': 'polite' });
  main.replaceChildren(heading('Audit log'), form, summary,
    el('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Audit events', tabindex: '0' },
      el('table', { id: 'audit' },
        el('caption', { class: 'visually-hidden' }, 'Audit events, newest first'),
        el('thead', {}, el('tr', {}, ['Time', 'Who', 'Action', 'Case', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
        tbody)));

  function apply(value) {
    filter = value;
    // Bookmarkable, without a route change.
    history.replaceState(null, '', filter ? `#/audit?case=${filter}` : '#/audit');
    load();
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value && !/^\d+$/.test(value)) { showError('A case number has digits only.'); input.focus(); return; }
    clearError();
    apply(value);
  });
  all.addEventListener('click', () => { input.value = ''; apply(''); });
  reload.addEventListener('click', () => load());
  load();

  async function load() {
    summary.textContent = 'Loading…';
    let data;
    try {
      data = await api('GET', filter ? `/api/audit?case=${encodeURIComponent(filter)}` : '/api/audit');
    } catch (problem) {
      if (!live()) return;
      showError(problem.message);
      summary.textContent = 'The audit log could not be loaded.';
      return;
    }
    if (!live()) return;
    const events = list(data.events).filter((e) => !filter || String(e.case) === filter).reverse(); // oldest first
    const shown = events.slice(0, AUDIT_ROWS);
    const detail = (d) => (d === null || d === undefined ? '' : typeof d === 'object' ? JSON.stringify(d) : String(d));
    tbody.replaceChildren(...shown.map((e) => el('tr', {},
      el('td', {}, timeEl(e.at, fullTime(e.at))),
      el('td', {}, e.by || 'system'),
      el('td', {}, words(e.action)),
      el('td', {}, e.case === null || e.case === undefined ? '—' : caseLink(e.case)),
      el('td', { class: 'detail' }, detail(e.detail)))));
    const n = events.length;
    if (!n) summary.textContent = 'No events.';
    else if (n > shown.length) summary.textContent = `The newest ${shown.length} of ${n} events. Filter by case number to see older ones.`;
    else summary.textContent = `${n} event${n === 1 ? '' : 's'}, newest first.`;
  }
}

/* ---- router ---- */

function route(initial = false) {
  const hash = window.location.hash.replace(/^#/, '');
  if (!initial && hash && !hash.startsWith('/')) return; // an in-page anchor, not a route
  poller.stop();
  routeGen += 1;
  const gen = routeGen;
  const live = () => gen === routeGen;
  clearError();
  const [path, query = ''] = (hash.startsWith('/') ? hash : '/').split('?');
  const main = $('#main');
  const match = /^\/cases\/(\d+)$/.exec(path);
  let current = `#${path}`;
  if (path === '/') renderQueue(main);
  else if (match) renderCase(main, match[1], live);
  else if (path === '/templates') renderTemplates(main, live);
  else if (path === '/audit') renderAudit(main, live, new URLSearchParams(query));
  else {
    document.title = `Not found — ${APP}`;
    main.replaceChildren(heading('Page not found'), el('p', {}, el('a', { href: '#/' }, 'Go to the queue')));
  }
  if (match) current = '';
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // Screen readers learn that the page changed: focus goes to the new heading.
  if (!initial) $('h1', main)?.focus();
}

/* ---- boot ---- */

async function boot() {
  $('#skip-link').addEventListener('click', (event) => {
    event.preventDefault(); // "#main" would be taken for a route
    $('#main').focus();
  });
  $('#dismiss-error').addEventListener('click', () => { clearError(); $('#main').focus(); });
  const logout = $('#logout');
  logout.addEventListener('click', () => act(logout, () => api('POST', '/api/logout'), (ok) => {
    if (!ok) return;
    poller.stop();
    window.location = '/login';
  }));

  for (;;) {
    try {
      me = await api('GET', '/api/me');
      break;
    } catch (problem) {
      setOnline(!problem.offline);
      showError(`Your account could not be loaded: ${problem.message} Retrying…`);
      await new Promise((done) => setTimeout(done, 3000));
    }
  }
  setOnline(true);
  clearError();
  csrf = me.csrf || '';
  $('#who').textContent = `${me.name || me.username} · ${words(me.role)}`;
  $('#nav-audit').hidden = me.role !== 'supervisor';
  window.addEventListener('hashchange', () => route());
  document.addEventListener('visibilitychange', () => { if (!document.hidden) poller.now(); });
  // Leaving the page (a reload, the end of the session) would lose unsent text: ask.
  window.addEventListener('beforeunload', (event) => {
    const unsent = [...drafts.reply.values(), ...drafts.note.values()].some((t) => t.trim());
    if (unsent) { event.preventDefault(); event.returnValue = ''; }
  });
  route(true);
}

boot();
