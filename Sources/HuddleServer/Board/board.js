// Huddle wallboard (SPEC §11): the floor in a browser, live from /v1/teams/TEAM/events.
// One module, no libraries. Names, notes and texts are user input: they only ever reach the
// page through textContent. Every DOM change waits for one animation frame, so a burst of
// events costs one layout, and a row is touched only when its member changed.

// ---------------------------------------------------------------------------------------------
// Vocabulary (SPEC §2, PROTOCOL §11)

const STATUSES = {
  available: { label: 'Available', rank: 0, group: 'available' },
  after_call_work: { label: 'After Call Work', rank: 1, group: 'acw' },
  break: { label: 'Break', rank: 2, group: 'away' },
  lunch: { label: 'Lunch', rank: 3, group: 'away' },
  meeting: { label: 'Meeting', rank: 4, group: 'busy' },
  training: { label: 'Catalog Training', rank: 5, group: 'busy' },
  admin: { label: 'Admin', rank: 6, group: 'busy' },
  offline: { label: 'Offline', rank: 8, group: 'offline' },
};
const UNKNOWN_STATUS_RANK = 7;
// A policy carries every limit (§17); these stand in only for a policy that lacks one.
const DEFAULT_LIMITS = { after_call_work: 120, break: 900, lunch: 3600, meeting: 3600, training: 7200, admin: 1800 };

const ALERT_KINDS = {
  wellbeing_break: 'Wellbeing break',
  escalation: 'Escalation',
  coverage_breach: 'Coverage breach',
  overdue_status: 'Overdue status',
  ghost_session: 'Ghost session',
  queue_pressure: 'Queue pressure',
  node_outage: 'Node outage',
  long_hold: 'Long hold',
  phone_still_logged_in: 'Phone still logged in',
  queue_report_missing: 'Queue report missing',
};
const SEVERITIES = {
  critical: '✖ Critical',
  warning: '▲ Warning',
  info: '● Info',
};
const COVERAGE_STATES = {
  ok: '✓ OK',
  at_risk: '▲ At risk',
  breach: '✖ BREACH',
};

const MAX_MESSAGES = 5;
const MAX_ALERTS_SHOWN = 50;
const WATCHDOG_MS = 45000;
const MAX_BACKOFF_MS = 30000;
const INVALID_RETRY_MS = 30000;
const HEALTHY_STREAM_MS = 30000;
const MIN_FRAME_MS = 100;
const MIN_ROWS_PER_FRAME = 20;
const BUILD_MS_PER_FRAME = 8;
const OFFSCREEN_ROWS_PER_TICK = 100;
/** Rows drawn beyond each edge of the window, so that a scroll or a reorder shows no gap. */
const NEAR_ROWS = 20;
/** A row's height before any has been laid out (2.05rem at 15px). */
const ROW_HEIGHT_GUESS = 31;

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

const pad2 = (n) => (n < 10 ? '0' + n : '' + n);

/** `m:ss` under an hour, `h:mm:ss` under a day, then `2d 3h`. Negative reads as zero. */
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 3600) return Math.floor(s / 60) + ':' + pad2(s % 60);
  if (s < 86400) return Math.floor(s / 3600) + ':' + pad2(Math.floor(s / 60) % 60) + ':' + pad2(s % 60);
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

/** Wall-clock `HH:MM:SS` in the viewer's zone. */
function clockTime(ms, seconds = true) {
  const d = new Date(ms);
  const hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  return seconds ? hm + ':' + pad2(d.getSeconds()) : hm;
}

function parseTime(text) {
  if (typeof text !== 'string') return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

function number(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function statusLabel(status) {
  return STATUSES[status]?.label ?? String(status).replace(/_/g, ' ');
}

function statusGroup(status) {
  return STATUSES[status]?.group ?? 'other';
}

function statusRank(status) {
  return STATUSES[status]?.rank ?? UNKNOWN_STATUS_RANK;
}

function kindLabel(kind) {
  return ALERT_KINDS[kind] ?? String(kind).replace(/_/g, ' ');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The message of a JSON error body `{"error":{"code","message"}}`, else the HTTP status. */
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && typeof body.error.message === 'string') return body.error.message;
  } catch {
    // not JSON: fall through
  }
  return 'HTTP ' + response.status + (response.statusText ? ' ' + response.statusText : '');
}

/** Retry-After in ms: seconds, or an HTTP date; null when absent or unreadable. */
function retryAfter(response) {
  const value = response.headers.get('Retry-After');
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null;
}

// ---------------------------------------------------------------------------------------------
// The page: who is watching, which teams, the server's clock

const params = new URLSearchParams(location.search);
const page = {
  tv: params.get('tv') === '1',
  displayKey: params.get('display'),
  pathTeam: null,
  role: null,
  seesAlerts: false,
  csrf: null,
  teams: new Map(),
  clockOffset: 0,
  lastUpdate: 0,
  sessionState: 'connecting',
  tick: false,
  frame: 0,
  frameTimer: 0,
  lastFlush: -Infinity,
  ready: false,
};
{
  const match = /^\/board\/([^/]+)\/?$/.exec(location.pathname);
  if (match) page.pathTeam = decodeURIComponent(match[1]);
}

/** The server's now: snapshot.now minus Date.now() at its receipt. */
const now = () => Date.now() + page.clockOffset;

window.huddleBoard = { lastEventId: {}, appliedSeq: {}, appliedSupervisorsSeq: {} };

const dom = {
  body: document.body,
  topTeams: document.getElementById('top-teams'),
  viewer: document.getElementById('viewer'),
  clock: document.getElementById('clock'),
  connection: document.getElementById('connection'),
  signout: document.getElementById('signout'),
  index: document.getElementById('team-index'),
  teams: document.getElementById('teams'),
  pageError: document.getElementById('page-error'),
  announce: document.getElementById('announce'),
};

/**
 * Asks for one render of everything that changed. Renders are at most one per
 * MIN_FRAME_MS: under a burst of events a board at 10 frames a second reads the same to a
 * person and costs a fifth of the rendering of one at 50.
 */
function requestFrame(soon = false) {
  if (page.frame > 0) return; // an animation frame is already asked for
  const wait = soon ? 0 : page.lastFlush + MIN_FRAME_MS - performance.now();
  if (page.frame === -1) {
    if (wait > 0) return; // the timer already set will ask for it
    clearTimeout(page.frameTimer);
  }
  if (wait <= 0) {
    page.frame = requestAnimationFrame(flush);
  } else {
    page.frame = -1;
    page.frameTimer = setTimeout(() => { page.frame = requestAnimationFrame(flush); }, wait);
  }
}

// ---------------------------------------------------------------------------------------------
// One member of a team, and its row

class Member {
  constructor(user) {
    this.user = user;
    this.role = 'agent';
    this.status = 'offline';
    this.note = '';
    this.since = null;
    this.expectedUntil = null;
    this.connected = false;
    this.call = null;
    this.phone = null;
    this.reason = null;
    this.due = null;
    this.rank = statusRank('offline');
    this.row = null;
    this.shown = {};
  }

  fromSnapshot(raw) {
    this.role = raw.role ?? 'agent';
    this.status = raw.status;
    this.rank = statusRank(raw.status);
    this.note = raw.note ?? '';
    this.since = parseTime(raw.since);
    this.expectedUntil = parseTime(raw.expected_until);
    this.connected = raw.connected === true;
    this.call = callOf(raw.call);
    this.phone = typeof raw.phone_logged_in === 'boolean' ? raw.phone_logged_in : null;
    this.reason = raw.reason ?? null;
  }
}

function callOf(raw) {
  if (!raw || typeof raw !== 'object' || !raw.state || raw.state === 'none') return null;
  return { state: raw.state, since: parseTime(raw.since), muted: raw.muted === true };
}

/** By status group, then name: a stable, readable order. */
function compareMembers(a, b) {
  if (a.rank !== b.rank) return a.rank - b.rank;
  return a.user < b.user ? -1 : a.user > b.user ? 1 : 0;
}

/** An element with its table role spelled out: rows are laid out as grids (so that rows off
 * the screen cost nothing), and a display other than table's would hide the table from
 * assistive technology in some browsers. */
function cell(tag, className, role, text) {
  const node = el(tag, className, text);
  node.setAttribute('role', role);
  return node;
}

function buildRow(team, m) {
  const tr = cell('tr', null, 'row');
  tr.dataset.user = m.user;
  const name = cell('th', 'user', 'rowheader');
  name.scope = 'row';
  const nameText = el('span', 'user-name', m.user);
  const role = el('span', 'role');
  name.append(nameText, role);
  const status = cell('td', 'status', 'cell');
  const badge = el('span', 'badge');
  status.append(badge);
  const time = cell('td', 'time', 'cell');
  const over = el('span', 't-over');
  const elapsed = el('span', 't-elapsed');
  time.append(over, elapsed);
  const call = cell('td', 'call', 'cell');
  const presence = cell('td', 'presence', 'cell');
  const note = cell('td', 'note', 'cell');
  tr.append(name, status, time, call, presence, note);
  m.row = { tr, role, badge, over, elapsed, call, presence, note };
  m.shown = {};
  // Not drawn until `placeRows` finds it near the window (in this same frame, for a row that is).
  m.visible = false;
  tr.hidden = 'until-found';
}

// ---------------------------------------------------------------------------------------------
// One team: its state, moved forward by events, and its section of the page

class Team {
  constructor(name) {
    this.name = name;
    this.members = new Map();
    this.sorted = [];
    /** How many rows `placeRows` last placed: the tbody's height over it is a row's height. */
    this.placedRows = 0;
    this.policy = null;
    this.coverage = null;
    this.queue = null;
    this.waitlist = [];
    this.alerts = new Map();
    this.messages = [];
    this.epoch = null;
    this.seq = 0;
    this.supSeq = null;
    this.hasSnapshot = false;
    this.rendered = false;
    this.link = 'connecting';
    this.error = null;
    this.lastUpdate = 0;
    this.dirty = new Set();
    this.dirtyMembers = new Set();
    this.moved = new Set();
    this.fullOrder = false;
    this.tickCursor = 0;
    this.removedRows = [];
    this.alertItems = new Map();
    this.view = buildSection(this);
    this.stream = new TeamStream(this);
  }

  limit(status) {
    const value = this.policy?.limits?.[status];
    return typeof value === 'number' ? value : null;
  }

  /** Every row to be drawn again (a snapshot; a policy, which moves due times in every team). */
  markAll() {
    for (const m of this.members.values()) this.dirtyMembers.add(m);
  }

  applySnapshot(data) {
    const s = data.snapshot ?? {};
    this.epoch = data.epoch ?? null;
    this.seq = Number(data.seq) || 0;
    this.supSeq = typeof data.supervisors_seq === 'number' ? data.supervisors_seq : null;
    this.policy = s.policy ?? null;
    this.coverage = s.coverage ?? null;
    this.queue = s.queue ?? null;
    this.waitlist = Array.isArray(s.waitlist) ? s.waitlist.map(waitEntry) : [];
    const seen = new Set();
    for (const raw of Array.isArray(s.members) ? s.members : []) {
      if (!raw || typeof raw.user !== 'string') continue;
      seen.add(raw.user);
      let m = this.members.get(raw.user);
      if (!m) {
        m = new Member(raw.user);
        this.members.set(raw.user, m);
      }
      m.fromSnapshot(raw);
    }
    for (const [user, m] of this.members) {
      if (!seen.has(user)) {
        this.members.delete(user);
        if (m.row) this.removedRows.push(m.row.tr);
        this.dirtyMembers.delete(m);
      }
    }
    const alerts = new Map();
    if (Array.isArray(s.alerts)) {
      for (const raw of s.alerts) {
        const alert = alertOf(raw);
        if (alert) {
          alert.pending = this.alerts.get(alert.id)?.pending ?? false;
          alerts.set(alert.id, alert);
        }
      }
    }
    this.alerts = alerts;
    // Snapshots hold no messages: the ones shown before a reconnect stay.
    this.hasSnapshot = true;
    this.fullOrder = true;
    recomputeDue();
    this.markAll();
    for (const part of ['policy', 'coverage', 'queue', 'waitlist', 'alerts', 'messages']) this.dirty.add(part);
  }

  /** Returns 'applied', 'duplicate' or 'gap' (a lost event: the stream must replay). */
  applyEvent(ev) {
    if (ev.stream === 'supervisors') {
      if (this.supSeq !== null) {
        if (ev.seq <= this.supSeq) return 'duplicate';
        if (ev.seq > this.supSeq + 1) return 'gap';
      }
      this.supSeq = ev.seq;
    } else {
      if (ev.seq <= this.seq) return 'duplicate';
      if (ev.seq > this.seq + 1) return 'gap';
      this.seq = ev.seq;
    }
    switch (ev.type) {
      case 'status': this.onStatus(ev); break;
      case 'presence': this.withMember(ev.user, (m) => { m.connected = ev.connected === true; }); break;
      case 'call': this.withMember(ev.user, (m) => { m.call = callOf(ev); }); break;
      case 'phone': this.withMember(ev.user, (m) => { m.phone = typeof ev.logged_in === 'boolean' ? ev.logged_in : null; }); break;
      case 'message': this.onMessage(ev); break;
      case 'policy':
        this.policy = ev.policy ?? this.policy;
        this.dirty.add('policy');
        recomputeDue();
        for (const team of page.teams.values()) team.markAll();
        break;
      case 'coverage':
        this.coverage = {
          available: ev.available, required: ev.required, on_break: ev.on_break, max_on_break: ev.max_on_break,
          on_call: ev.on_call, state: ev.state, required_from: ev.required_from,
        };
        this.dirty.add('coverage');
        break;
      case 'waitlist': this.onWaitlist(ev); break;
      case 'waitlist_ready': {
        const place = this.waitlist.find((p) => p.user === ev.user);
        if (place) {
          place.holdUntil = parseTime(ev.hold_until);
          place.status = ev.status ?? place.status;
        }
        this.dirty.add('waitlist');
        break;
      }
      case 'queue': this.queue = ev; this.dirty.add('queue'); break;
      case 'alert': this.onAlert(ev); break;
      case 'alert_ack':
        if (this.alerts.delete(ev.alert)) this.dirty.add('alerts');
        break;
      case 'notice': {
        const alert = this.alerts.get(ev.alert);
        const notice = noticeOf(ev);
        if (alert && notice) {
          alert.notices = alert.notices.filter((n) => n.target !== notice.target).concat([notice]).sort((a, b) => a.target - b.target);
          alert.noticesChanged = true;
          this.dirty.add('alerts');
        }
        break;
      }
      default:
        break; // a type of a newer server: its seq counted, nothing shown
    }
    return 'applied';
  }

  withMember(user, change) {
    const m = this.members.get(user);
    if (!m) return;
    change(m);
    this.dirtyMembers.add(m);
  }

  onStatus(ev) {
    let m = this.members.get(ev.user);
    if (!m) {
      m = new Member(ev.user);
      this.members.set(ev.user, m);
      this.moved.add(m);
    }
    // A wellbeing reason stays while the status stays `break` and goes with the next one (§10).
    if (!(m.status === 'break' && ev.status === 'break')) m.reason = null;
    m.status = ev.status;
    m.note = ev.note ?? '';
    m.since = parseTime(ev.since) ?? parseTime(ev.at);
    m.expectedUntil = parseTime(ev.expected_until);
    const rank = statusRank(ev.status);
    if (rank !== m.rank) {
      m.rank = rank;
      this.moved.add(m);
    }
    m.due = dueOf(m);
    this.dirtyMembers.add(m);
  }

  onMessage(ev) {
    this.messages.unshift({ user: ev.user ?? '', text: ev.text ?? '', at: parseTime(ev.at) });
    if (this.messages.length > MAX_MESSAGES) this.messages.length = MAX_MESSAGES;
    this.dirty.add('messages');
  }

  onWaitlist(ev) {
    const previous = this.waitlist;
    // The event has no hold_until: a held slot stays held while its place stays (§10).
    this.waitlist = (Array.isArray(ev.users) ? ev.users : []).map((raw) => {
      const entry = waitEntry(raw);
      const before = previous.find((p) => p.user === entry.user && p.status === entry.status);
      if (before && entry.holdUntil === null) entry.holdUntil = before.holdUntil;
      return entry;
    });
    this.dirty.add('waitlist');
  }

  onAlert(ev) {
    const alert = alertOf(ev);
    if (!alert) return;
    alert.pending = false;
    this.alerts.set(alert.id, alert);
    this.dirty.add('alerts');
    if (alert.kind === 'wellbeing_break' && alert.user) {
      this.withMember(alert.user, (m) => { if (m.status === 'break') m.reason = 'abusive_call'; });
    }
    if (page.seesAlerts) {
      const who = alert.user ? ' (' + alert.user + ')' : '';
      dom.announce.textContent = 'New ' + alert.severity + ' alert in ' + this.name + ': ' + kindLabel(alert.kind) + who + '. ' + alert.text;
    }
  }
}

function waitEntry(raw) {
  return {
    user: raw?.user ?? '',
    status: raw?.status ?? '',
    since: parseTime(raw?.since),
    holdUntil: parseTime(raw?.hold_until),
  };
}

function alertOf(raw) {
  if (!raw || typeof raw.alert !== 'number') return null;
  return {
    id: raw.alert,
    kind: raw.kind ?? '',
    severity: raw.severity ?? 'info',
    text: raw.text ?? '',
    user: raw.user ?? null,
    createdAt: parseTime(raw.created_at) ?? parseTime(raw.at),
    escalates: typeof raw.escalates === 'number' ? raw.escalates : null,
    notices: Array.isArray(raw.notices) ? raw.notices.map(noticeOf).filter((n) => n !== null) : [],
    pending: false,
  };
}

/** What became of an alert's notice to one chat or webhook target (PROTOCOL §23). */
function noticeOf(raw) {
  if (!raw || typeof raw.target !== 'number' || typeof raw.outcome !== 'string') return null;
  return { target: raw.target, format: String(raw.format ?? ''), outcome: raw.outcome };
}

const NOTICE_WORDS = { delivered: 'sent', retrying: 'not sent yet, retrying', given_up: 'could not be sent' };
const FORMAT_NAMES = { slack: 'Slack', teams: 'Teams', json: 'webhook' };

/** "Slack: sent · webhook: not sent yet, retrying" */
function noticeText(notices) {
  return notices.map((n) => (FORMAT_NAMES[n.format] ?? n.format) + ': ' + (NOTICE_WORDS[n.outcome] ?? n.outcome)).join(' · ');
}

/**
 * When a member is due (PROTOCOL §12): the planned return, else since + the smallest limit for
 * the status among the shown teams that list them. `available` and `offline` are never due.
 */
function dueOf(m) {
  if (m.expectedUntil !== null) return m.expectedUntil;
  if (m.since === null || m.status === 'available' || m.status === 'offline') return null;
  let limit = null;
  for (const team of page.teams.values()) {
    if (!team.members.has(m.user)) continue;
    const value = team.limit(m.status);
    if (value !== null && (limit === null || value < limit)) limit = value;
  }
  if (limit === null) limit = DEFAULT_LIMITS[m.status] ?? null;
  return limit === null ? null : m.since + limit * 1000;
}

function recomputeDue() {
  for (const team of page.teams.values()) {
    for (const m of team.members.values()) m.due = dueOf(m);
  }
}

// ---------------------------------------------------------------------------------------------
// Building a team's section (once); rendering fills it in

function buildSection(team) {
  const id = 'team-' + team.name.replace(/[^a-z0-9_.-]/gi, '_');
  const section = el('section', 'team');
  section.dataset.team = team.name;
  section.id = id;
  section.setAttribute('aria-labelledby', id + '-title');

  const head = el('div', 'team-head');
  const title = el('h2', 'team-title', team.name);
  title.id = id + '-title';
  const version = el('span', 'policy-version', 'Policy —');
  const updated = el('span', 'team-updated');
  head.append(title, version, updated);

  const error = el('p', 'team-error');
  error.setAttribute('role', 'alert');
  error.hidden = true;

  // Coverage tile
  const coverage = el('section', 'tile coverage');
  coverage.dataset.state = 'unknown';
  coverage.setAttribute('aria-labelledby', id + '-cov');
  const covTitle = el('h3', 'tile-title', 'Coverage');
  covTitle.id = id + '-cov';
  const covState = el('p', 'cov-state', 'Waiting for data…');
  const covFigures = el('dl', 'figures');
  const covAvailable = figure(covFigures, 'Available');
  const covBreak = figure(covFigures, 'On break');
  const covCall = figure(covFigures, 'On call');
  const covFrom = el('p', 'tile-note');
  covFrom.hidden = true;
  coverage.append(covTitle, covState, covFigures, covFrom);

  // Queue tile
  const queue = el('section', 'tile queue');
  queue.setAttribute('aria-labelledby', id + '-queue');
  const qTitle = el('h3', 'tile-title', 'Queue');
  qTitle.id = id + '-queue';
  const qFigures = el('dl', 'figures');
  const qWaiting = figure(qFigures, 'Calls waiting');
  const qOldest = figure(qFigures, 'Oldest wait');
  const qRate = figure(qFigures, 'Calls per hour');
  const qFlags = el('p', 'q-flags');
  const qPressure = el('span', 'flag pressure');
  const qOutage = el('span', 'flag outage');
  qFlags.append(qPressure, qOutage);
  const qNodes = el('p', 'q-nodes');
  qNodes.hidden = true;
  const qMeta = el('p', 'tile-note', 'No queue report yet');
  queue.append(qTitle, qFigures, qFlags, qNodes, qMeta);

  const tiles = el('div', 'tiles');
  tiles.append(coverage, queue);

  // Agents
  const table = cell('table', 'agents', 'table');
  const caption = el('caption', 'agents-caption', 'Agents');
  caption.id = id + '-agents';
  table.setAttribute('aria-labelledby', caption.id);
  const thead = cell('thead', null, 'rowgroup');
  const headRow = cell('tr', null, 'row');
  for (const [label, cls] of [
    ['Agent', 'user'], ['Status', 'status'], ['In status / due', 'time'], ['Call', 'call'], ['Connection', 'presence'], ['Note', 'note'],
  ]) {
    const th = cell('th', cls, 'columnheader', label);
    th.scope = 'col';
    headRow.append(th);
  }
  thead.append(headRow);
  const tbody = cell('tbody', null, 'rowgroup');
  table.append(caption, thead, tbody);
  const agents = el('div', 'agents-wrap');
  agents.append(table);

  // Side panels
  const side = el('div', 'side');
  const waitPanel = panel(side, id + '-wait', 'Waitlist');
  const waitlist = el('ol', 'waitlist');
  const waitEmpty = el('p', 'empty', 'Nobody waiting');
  waitPanel.body.append(waitlist, waitEmpty);

  let alertsView = null;
  if (page.seesAlerts) {
    const alertPanel = panel(side, id + '-alerts', 'Open alerts');
    alertPanel.title.tabIndex = -1;
    const count = el('span', 'count');
    alertPanel.title.append(count);
    const list = el('ul', 'alerts');
    const empty = el('p', 'empty', 'No open alerts');
    const more = el('p', 'more');
    more.hidden = true;
    alertPanel.body.append(list, empty, more);
    alertsView = { panel: alertPanel.section, title: alertPanel.title, count, list, empty, more };
  }

  const msgPanel = panel(side, id + '-msg', 'Recent messages');
  const messages = el('ul', 'messages');
  const msgEmpty = el('p', 'empty', 'No messages since this page opened');
  msgPanel.body.append(messages, msgEmpty);

  section.append(head, error, tiles, agents, side);
  dom.teams.append(section);

  return {
    section, title, version, updated, error,
    coverage, covState, covAvailable, covBreak, covCall, covFrom,
    queue, qWaiting, qOldest, qRate, qFlags, qPressure, qOutage, qNodes, qMeta,
    caption, tbody, waitlist, waitEmpty, alerts: alertsView, messages, msgEmpty,
    indexState: null,
  };
}

/** A figure of a tile: its label, a big number and a small qualifier after it. */
function figure(dl, label) {
  const wrap = el('div', 'figure');
  const dt = el('dt', null, label);
  const dd = el('dd');
  const big = el('span', 'big', '—');
  const sub = el('span', 'sub');
  dd.append(big, sub);
  wrap.append(dt, dd);
  dl.append(wrap);
  return { big, sub };
}

function setFigure(f, big, sub = '') {
  setText(f.big, big);
  setText(f.sub, sub);
}

function panel(parent, id, label) {
  const section = el('section', 'panel');
  section.setAttribute('aria-labelledby', id);
  const title = el('h3', 'panel-title', label + ' ');
  title.id = id;
  const body = el('div', 'panel-body');
  section.append(title, body);
  parent.append(section);
  return { section, title, body };
}

// ---------------------------------------------------------------------------------------------
// Rendering, once per animation frame

function flush() {
  page.frame = 0;
  page.lastFlush = performance.now();
  const t = now();
  const tick = page.tick;
  page.tick = false;
  // Where each team's rows are, read before this frame writes anything (the layout is still
  // the last frame's, so the read costs nothing).
  const places = new Map();
  for (const team of page.teams.values()) places.set(team, team.view?.tbody.getBoundingClientRect() ?? null);
  for (const team of page.teams.values()) renderTeam(team, t, tick, places.get(team));
  setText(dom.clock, clockTime(t));
  renderConnection();
  if (!page.ready && page.teams.size > 0) {
    let settled = true;
    for (const team of page.teams.values()) if (!team.rendered && !team.error) settled = false;
    if (settled) {
      page.ready = true;
      dom.body.dataset.ready = '1';
    }
  }
}

function renderTeam(team, t, tick, place) {
  const v = team.view;
  if (team.error !== null) {
    setText(v.error, team.error);
    v.error.hidden = false;
  }
  if (!team.hasSnapshot) return;
  const d = team.dirty;
  if (d.has('policy')) {
    const version = team.policy?.version;
    setText(v.version, version === undefined ? 'Policy —' : 'Policy v' + version);
  }
  if (d.has('coverage')) renderCoverage(team);
  if (d.has('queue') || tick) renderQueue(team, t);
  if (d.has('waitlist') || tick) renderWaitlist(team, t);
  if (v.alerts && (d.has('alerts') || tick)) renderAlerts(team, t, d.has('alerts'));
  if (d.has('messages')) renderMessages(team);
  d.clear();

  for (const tr of team.removedRows) tr.remove();
  team.removedRows.length = 0;

  // New rows (a first snapshot of 1,000 agents) are built for a few milliseconds per frame, so
  // that no frame runs long however slow the machine; the rest wait, dirty, for the next one.
  let built = 0;
  let full = false;
  const later = [];
  for (const m of team.dirtyMembers) {
    if (!m.row) {
      if (!full && built >= MIN_ROWS_PER_FRAME && built % 10 === 0) {
        full = performance.now() - page.lastFlush > BUILD_MS_PER_FRAME;
      }
      if (full) {
        later.push(m);
        continue;
      }
      buildRow(team, m);
      built += 1;
      team.moved.add(m);
    }
    renderMember(m, t);
  }
  const membersChanged = team.dirtyMembers.size > 0;
  team.dirtyMembers.clear();
  for (const m of later) team.dirtyMembers.add(m);
  if (later.length) requestFrame(true);
  reorder(team);
  placeRows(team, t, place);
  if (tick) tickMembers(team, t);
  if (membersChanged || !team.rendered) renderCaption(team);
  if (team.lastUpdate) setText(v.updated, 'updated ' + clockTime(team.lastUpdate));
  if (later.length === 0) team.rendered = true;
}

/**
 * The one-second count: the rows on the screen, and a slice of the others in turn (all of
 * them, for a team of up to OFFSCREEN_ROWS_PER_TICK more than fit on the screen). A row off the
 * screen that falls due is marked overdue at once all the same.
 */
function tickMembers(team, t) {
  const order = team.sorted;
  let offscreen = 0;
  const n = order.length;
  const from = n ? team.tickCursor % n : 0;
  let next = from;
  for (let k = 0; k < n; k++) {
    const i = (from + k) % n;
    const m = order[i];
    if (!m.row || team.members.get(m.user) !== m) continue;
    if (m.visible) {
      renderTime(m, t);
      renderCall(m, t);
    } else if (offscreen < OFFSCREEN_ROWS_PER_TICK) {
      offscreen += 1;
      next = i + 1;
      renderTime(m, t);
      renderCall(m, t);
    } else if ((m.due !== null && t >= m.due) !== (m.shown.over !== '')) {
      renderTime(m, t);
    }
  }
  team.tickCursor = next;
}

/**
 * Draws only the rows near the window. A row far from it is `hidden="until-found"`
 * (`content-visibility: hidden`, and still found by the browser's find-in-page, which shows
 * it and scrolls to it): it keeps its place and height, and its contents cost no style,
 * layout or paint. With 1,000 agents, letting the browser decide (`content-visibility: auto`) cost an
 * intersection check of every row and a layout of the whole list in each frame, 40 to 90 ms
 * at 50 changes a second (Benchmarks/wallboard.py). Rows keep their text up to date wherever
 * they are; a row coming near has its time counted at once.
 */
function placeRows(team, t, place) {
  const rows = [];
  for (const m of team.sorted) if (m.row && team.members.get(m.user) === m) rows.push(m);
  if (rows.length === 0 || !place) return;
  const height = team.placedRows > 0 && place.height > 0 ? place.height / team.placedRows : ROW_HEIGHT_GUESS;
  const first = Math.floor(-place.top / height) - NEAR_ROWS;
  const last = Math.ceil((window.innerHeight - place.top) / height) + NEAR_ROWS;
  rows.forEach((m, i) => {
    const near = i >= first && i <= last;
    // The attribute, not m.visible, says whether it is drawn: find-in-page removes it itself.
    const drawn = m.row.tr.hidden === false;
    m.visible = near;
    if (near === drawn) return;
    m.row.tr.hidden = near ? false : 'until-found';
    if (near) {
      renderTime(m, t);
      renderCall(m, t);
    }
  });
  team.placedRows = rows.length;
}

/** Puts rows in order, moving only those whose place may have changed. */
function reorder(team) {
  const tbody = team.view.tbody;
  if (!team.fullOrder && team.moved.size === 0) return;
  team.sorted = Array.from(team.members.values()).sort(compareMembers);
  if (team.fullOrder) {
    const fragment = document.createDocumentFragment();
    for (const m of team.sorted) if (m.row) fragment.append(m.row.tr);
    tbody.append(fragment);
  } else {
    // The rows left in place keep their relative order (their keys did not change), so one
    // pass inserts each moved row before the first row that should follow it.
    for (const m of team.moved) if (m.row) m.row.tr.remove();
    let cursor = tbody.firstChild;
    for (const m of team.sorted) {
      if (!m.row) continue;
      const tr = m.row.tr;
      if (tr === cursor) cursor = cursor.nextSibling;
      else tbody.insertBefore(tr, cursor);
    }
  }
  team.fullOrder = false;
  team.moved.clear();
}

function renderMember(m, t) {
  const r = m.row;
  const s = m.shown;
  const wellbeing = m.reason === 'abusive_call' && page.seesAlerts;
  const label = statusLabel(m.status) + (wellbeing ? ' · wellbeing' : '');
  if (s.label !== label) {
    r.badge.textContent = label;
    s.label = label;
  }
  const group = statusGroup(m.status);
  if (s.group !== group) {
    r.badge.className = 'badge s-' + group;
    s.group = group;
  }
  const role = m.role === 'supervisor' ? 'supervisor' : '';
  if (s.role !== role) {
    r.role.textContent = role;
    r.role.hidden = role === '';
    s.role = role;
  }
  if (s.note !== m.note) {
    r.note.textContent = m.note;
    if (m.note) r.note.title = m.note;
    else r.note.removeAttribute('title');
    s.note = m.note;
  }
  if (s.connected !== m.connected) {
    r.presence.textContent = m.connected ? '● online' : '○ offline';
    r.presence.className = 'presence ' + (m.connected ? 'on' : 'off');
    s.connected = m.connected;
  }
  const gone = !m.connected && m.status === 'offline';
  if (s.gone !== gone) {
    r.tr.classList.toggle('gone', gone);
    s.gone = gone;
  }
  renderTime(m, t);
  renderCall(m, t);
}

function renderTime(m, t) {
  const r = m.row;
  const s = m.shown;
  let text = '';
  let over = '';
  if (m.since !== null) {
    text = duration(t - m.since);
    if (m.due !== null) {
      text += ' / ' + duration(m.due - m.since);
      // The trailing space keeps the cell's text readable as words: "⚠ overdue 3:10 18:10 / 15:00".
      if (t >= m.due) over = '⚠ overdue ' + duration(t - m.due) + ' ';
    }
  }
  if (s.time !== text) {
    r.elapsed.textContent = text;
    s.time = text;
  }
  if (s.over !== over) {
    r.over.textContent = over;
    r.tr.classList.toggle('overdue', over !== '');
    s.over = over;
  }
}

function renderCall(m, t) {
  const r = m.row;
  const s = m.shown;
  let text = '';
  let kind = '';
  const call = m.call;
  if (call) {
    const since = call.since === null ? '' : ' ' + duration(t - call.since);
    if (call.state === 'ringing') {
      text = '☎ ringing';
      kind = 'ringing';
    } else if (call.state === 'talking') {
      text = '☎ talking' + since;
      kind = 'talking';
    } else if (call.state === 'on_hold') {
      text = '‖ on hold' + since;
      kind = 'hold';
    } else {
      text = '☎ ' + String(call.state).replace(/_/g, ' ') + since;
      kind = 'talking';
    }
    if (call.muted) text += ' · muted';
  } else if (m.phone === true && m.status === 'offline') {
    text = '☎ phone logged in';
    kind = 'phone';
  }
  if (s.call !== text) {
    r.call.textContent = text;
    s.call = text;
  }
  if (s.callKind !== kind) {
    r.call.className = kind ? 'call c-' + kind : 'call';
    s.callKind = kind;
  }
}

function renderCaption(team) {
  let agents = 0;
  let connected = 0;
  for (const m of team.members.values()) {
    if (m.role !== 'supervisor') agents += 1;
    if (m.connected) connected += 1;
  }
  const people = team.members.size;
  const text = 'Agents of ' + team.name + ': ' + agents + ' agent' + (agents === 1 ? '' : 's')
    + (people > agents ? ', ' + (people - agents) + ' supervisor' + (people - agents === 1 ? '' : 's') : '')
    + ', ' + connected + ' connected';
  setText(team.view.caption, text);
}

function renderCoverage(team) {
  const v = team.view;
  const c = team.coverage;
  if (!c) {
    v.coverage.dataset.state = 'unknown';
    setText(v.covState, 'No figures yet');
    return;
  }
  const state = COVERAGE_STATES[c.state] ? c.state : 'unknown';
  v.coverage.dataset.state = state;
  setText(v.covState, COVERAGE_STATES[c.state] ?? String(c.state ?? 'unknown'));
  setFigure(v.covAvailable, number(c.available), ' of ' + number(c.required) + ' required');
  setFigure(v.covBreak, number(c.on_break), ' of max ' + number(c.max_on_break));
  setFigure(v.covCall, c.on_call === undefined ? '—' : number(c.on_call), c.on_call === undefined ? '' : ' of ' + number(c.available) + ' available');
  const from = c.required_from;
  if (from && typeof from === 'object') {
    const pct = typeof from.target === 'number' ? Math.round(from.target * 100) + '%' : '—';
    setText(v.covFrom, 'Required by Erlang C: ' + number(from.calls_per_hour) + ' calls/h, handle time ' + number(from.aht_s)
      + ' s, ' + pct + ' answered within ' + number(from.within_s) + ' s');
    v.covFrom.hidden = false;
  } else {
    v.covFrom.hidden = true;
  }
  if (v.indexState) setText(v.indexState, COVERAGE_STATES[c.state] ?? '');
}

function renderQueue(team, t) {
  const v = team.view;
  const q = team.queue;
  if (!q) {
    setFigure(v.qWaiting, '—');
    setFigure(v.qOldest, '—');
    setFigure(v.qRate, '—');
    v.qFlags.hidden = true;
    v.queue.dataset.pressure = 'false';
    v.queue.dataset.outage = 'false';
    v.qNodes.hidden = true;
    setText(v.qMeta, 'No queue report yet');
    return;
  }
  setFigure(v.qWaiting, number(q.calls_waiting));
  setFigure(v.qOldest, typeof q.oldest_wait_s === 'number' ? duration(q.oldest_wait_s * 1000) : '—');
  setFigure(v.qRate, number(q.calls_per_hour));
  const pressure = q.pressure === true;
  const outage = q.node_outage === true;
  v.qFlags.hidden = false;
  v.queue.dataset.pressure = String(pressure);
  v.queue.dataset.outage = String(outage);
  setText(v.qPressure, pressure ? '▲ Queue pressure: no new breaks or lunches' : 'No queue pressure');
  setText(v.qOutage, outage ? '✖ Node outage: time off the phones frozen' : 'No node outage');
  const nodes = Array.isArray(q.nodes_out) ? q.nodes_out : [];
  if (nodes.length) {
    const byCity = new Map();
    for (const n of nodes) {
      const city = n?.city ?? '?';
      if (!byCity.has(city)) byCity.set(city, []);
      byCity.get(city).push(n?.node ?? '?');
    }
    const parts = [];
    for (const [city, list] of byCity) parts.push(city + ': ' + list.join(', '));
    setText(v.qNodes, 'Nodes out by city — ' + parts.join('; '));
    v.qNodes.hidden = false;
  } else {
    v.qNodes.hidden = true;
  }
  const at = parseTime(q.at);
  let meta = typeof q.aht_s === 'number' ? 'Handle time ' + number(q.aht_s) + ' s · ' : '';
  meta += at === null ? 'Reported' : 'Reported ' + duration(t - at) + ' ago';
  if (q.by) meta += ' by ' + q.by;
  if (q.note) meta += ' · “' + q.note + '”';
  setText(v.qMeta, meta);
}

function renderWaitlist(team, t) {
  const v = team.view;
  const list = v.waitlist;
  const places = team.waitlist;
  while (list.children.length > places.length) list.lastChild.remove();
  while (list.children.length < places.length) {
    const li = el('li');
    li.append(el('span', 'w-user'), el('span', 'w-status'), el('span', 'w-wait'), el('span', 'w-hold'));
    list.append(li);
  }
  places.forEach((p, i) => {
    const li = list.children[i];
    li.dataset.user = p.user;
    const [user, status, wait, hold] = li.children;
    setText(user, p.user);
    setText(status, statusLabel(p.status));
    setText(wait, p.since === null ? '' : 'waiting ' + duration(t - p.since));
    let holdText = '';
    if (p.holdUntil !== null) {
      holdText = t < p.holdUntil
        ? '✓ slot held until ' + clockTime(p.holdUntil) + ' (' + duration(p.holdUntil - t) + ' left)'
        : 'hold expired';
    }
    setText(hold, holdText);
    li.classList.toggle('held', holdText !== '' && t < p.holdUntil);
  });
  v.waitEmpty.hidden = places.length > 0;
}

function renderAlerts(team, t, changed) {
  const view = team.view.alerts;
  const items = team.alertItems;
  if (changed) {
    const open = Array.from(team.alerts.values()).sort((a, b) => a.id - b.id);
    const shown = open.slice(0, MAX_ALERTS_SHOWN);
    const keep = new Set(shown.map((a) => a.id));
    for (const [id, item] of items) {
      if (!keep.has(id)) {
        if (item.li.contains(document.activeElement)) view.title.focus();
        item.li.remove();
        items.delete(id);
      }
    }
    let cursor = view.list.firstChild;
    for (const alert of shown) {
      let item = items.get(alert.id);
      if (!item) {
        item = buildAlert(team, alert);
        items.set(alert.id, item);
      }
      item.alert = alert;
      if (alert.noticesChanged) {
        alert.noticesChanged = false;
        showNotices(item);
      }
      if (item.li === cursor) cursor = cursor.nextSibling;
      else view.list.insertBefore(item.li, cursor);
    }
    setText(view.count, open.length ? '(' + open.length + ')' : '');
    view.empty.hidden = open.length > 0;
    view.more.hidden = open.length <= shown.length;
    if (open.length > shown.length) setText(view.more, '… and ' + (open.length - shown.length) + ' more');
  }
  for (const item of items.values()) {
    const created = item.alert.createdAt;
    setText(item.age, created === null ? '' : duration(t - created) + ' ago');
  }
}

function showNotices(item) {
  const notices = item.alert.notices;
  item.notices.hidden = notices.length === 0;
  setText(item.notices, notices.length ? 'Notified ' + noticeText(notices) : '');
  item.notices.classList.toggle('failing', notices.some((n) => n.outcome !== 'delivered'));
}

function buildAlert(team, alert) {
  const severity = SEVERITIES[alert.severity] ? alert.severity : 'info';
  const li = el('li', 'alert sev-' + severity);
  li.dataset.alert = String(alert.id);
  const head = el('p', 'a-head');
  head.append(el('span', 'a-sev', SEVERITIES[severity]), el('span', 'a-kind', kindLabel(alert.kind)));
  const meta = el('p', 'a-meta');
  if (alert.user) meta.append(el('span', 'a-user', alert.user));
  const age = el('span', 'a-age');
  meta.append(age);
  let text = alert.text;
  if (alert.escalates !== null) text += ' (escalates alert ' + alert.escalates + ')';
  const notices = el('p', 'a-notices');
  li.append(head, meta, el('p', 'a-text', text), notices);
  const item = { li, age, alert, notices };
  showNotices(item);
  if (!page.tv && page.csrf !== null) {
    const actions = el('p', 'a-actions');
    const button = el('button', 'ack', 'Acknowledge');
    button.type = 'button';
    button.setAttribute('aria-label', 'Acknowledge alert ' + alert.id + ': ' + kindLabel(alert.kind) + (alert.user ? ', ' + alert.user : ''));
    const error = el('span', 'a-error');
    error.setAttribute('role', 'alert');
    actions.append(button, error);
    li.append(actions);
    if (alert.pending) {
      button.disabled = true;
      button.textContent = 'Acknowledging…';
    }
    button.addEventListener('click', () => acknowledge(team, item, button, error));
  }
  return item;
}

async function acknowledge(team, item, button, error) {
  const id = item.alert.id;
  button.disabled = true;
  button.textContent = 'Acknowledging…';
  error.textContent = '';
  let message;
  try {
    const response = await fetch('/v1/alerts/' + encodeURIComponent(id) + '/ack', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', 'X-Huddle-CSRF': page.csrf ?? '' },
      body: JSON.stringify({ note: '' }),
    });
    if (response.ok) {
      // The alert leaves with its alert_ack event; until then the button stays disabled.
      const alert = team.alerts.get(id);
      if (alert) alert.pending = true;
      return;
    }
    message = await errorMessage(response);
  } catch {
    message = 'Could not reach the server; try again.';
  }
  error.textContent = message;
  button.disabled = false;
  button.textContent = 'Acknowledge';
}

function renderMessages(team) {
  const v = team.view;
  const fragment = document.createDocumentFragment();
  for (const msg of team.messages) {
    const li = el('li');
    const time = el('time', 'm-time', msg.at === null ? '' : clockTime(msg.at, false));
    if (msg.at !== null) time.dateTime = new Date(msg.at).toISOString();
    li.append(time, el('span', 'm-user', msg.user), el('span', 'm-text', msg.text));
    fragment.append(li);
  }
  v.messages.replaceChildren(fragment);
  v.msgEmpty.hidden = team.messages.length > 0;
}

// ---------------------------------------------------------------------------------------------
// The connection banner: one for the page

function pageLink() {
  if (page.sessionState !== 'ok') return page.sessionState;
  const states = Array.from(page.teams.values(), (team) => team.link);
  if (states.includes('invalid')) return 'invalid';
  if (states.includes('reconnecting')) return 'reconnecting';
  if (states.includes('connecting')) return 'connecting';
  if (states.includes('live')) return 'live';
  return states.length ? 'error' : 'connecting';
}

function renderConnection() {
  const state = pageLink();
  const c = dom.connection;
  let text;
  switch (state) {
    case 'live':
      text = '● Live';
      break;
    case 'invalid':
      text = 'This display link is no longer valid';
      break;
    case 'error':
      text = '✖ Not connected: see the message below';
      break;
    case 'reconnecting': {
      const down = Array.from(page.teams.values()).filter((team) => team.link === 'reconnecting').map((team) => team.name);
      text = '⟳ Reconnecting…' + (page.teams.size > 1 && down.length ? ' (' + down.join(', ') + ')' : '')
        + (page.lastUpdate ? ' Last update ' + clockTime(page.lastUpdate) + '.' : '')
        + ' What you see may be out of date.';
      break;
    }
    default:
      text = '⟳ Connecting…';
  }
  if (c.dataset.state !== state) c.dataset.state = state;
  setText(c, text);
  // What a person at the wall can do about it; gone again once the link works.
  const hint = dom.pageError;
  if (state === 'invalid' && hint.hidden) {
    hint.textContent = 'Ask an admin for a new display link (huddled display add TEAM). This screen tries again every 30 seconds.';
    hint.dataset.invalid = '1';
    hint.hidden = false;
  } else if (state !== 'invalid' && hint.dataset.invalid === '1') {
    hint.hidden = true;
    delete hint.dataset.invalid;
  }
  dom.body.classList.toggle('stale', state === 'reconnecting' || state === 'invalid');
}

// ---------------------------------------------------------------------------------------------
// Server-sent events, parsed by hand (fetch, so that Last-Event-ID goes on every connection
// and a 401 is told apart from a network error)

export class SSEParser {
  constructor(onFrame, onRetry) {
    this.onFrame = onFrame;
    this.onRetry = onRetry;
    // The unfinished line: `buffer` (scanned up to `scanned`; a CR there waits for a possible
    // LF), then `pieces` that hold no line end, joined only once one arrives.
    this.buffer = '';
    this.scanned = 0;
    this.pieces = [];
    this.started = false;
    this.event = '';
    this.data = [];
    this.idBuffer = '';
  }

  push(text) {
    if (!text) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const pendingCR = this.scanned < this.buffer.length;
    if (!pendingCR && text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
      this.pieces.push(text);
      return;
    }
    let buf = this.buffer;
    let i = this.scanned;
    if (this.pieces.length) {
      buf += this.pieces.join('');
      i = buf.length;
      this.pieces = [];
    }
    buf += text;
    const n = buf.length;
    let start = 0;
    // The next LF and CR at or after i (-1: none left), each searched for again only once
    // passed, so that a chunk of many lines is scanned once.
    let lf = -2;
    let cr = -2;
    while (i < n) {
      if (lf !== -1 && lf < i) lf = buf.indexOf('\n', i);
      if (cr !== -1 && cr < i) cr = buf.indexOf('\r', i);
      if (lf === -1 && cr === -1) {
        i = n;
        break;
      }
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      const isCR = end === cr;
      // A CR at the end of the chunk may be the first half of CRLF: wait for the next one.
      if (isCR && end + 1 === n) {
        i = end;
        break;
      }
      this.line(buf.slice(start, end));
      i = isCR && buf.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
      start = i;
    }
    this.buffer = buf.slice(start);
    this.scanned = i - start;
  }

  line(line) {
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 58) return undefined; // a comment: `: heartbeat`
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    switch (field) {
      case 'event': this.event = value; break;
      case 'data': this.data.push(value); break;
      case 'id': if (!value.includes('\0')) this.idBuffer = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.onRetry(Number(value)); break;
      default: break;
    }
    return undefined;
  }

  dispatch() {
    if (this.data.length === 0) {
      this.event = '';
      return;
    }
    const frame = { event: this.event || 'message', data: this.data.join('\n'), id: this.idBuffer };
    this.event = '';
    this.data = [];
    this.onFrame(frame);
  }
}

class TeamStream {
  constructor(team) {
    this.team = team;
    this.lastId = null;
    this.retryMs = 2000;
    this.attempt = 0;
    this.stopped = false;
    this.outcome = null;
    this.healthy = false;
    this.gapAt = null;
  }

  url() {
    const base = '/v1/teams/' + encodeURIComponent(this.team.name) + '/events';
    return page.displayKey === null ? base : base + '?display=' + encodeURIComponent(page.displayKey);
  }

  backoff() {
    const ms = Math.min(MAX_BACKOFF_MS, this.retryMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    return Math.min(MAX_BACKOFF_MS, Math.round(ms * (0.75 + Math.random() * 0.5)));
  }

  setLink(state) {
    if (this.team.link !== state) {
      this.team.link = state;
      requestFrame();
    }
  }

  async run() {
    while (!this.stopped) {
      const outcome = await this.connect();
      if (this.stopped) return;
      let delay;
      switch (outcome.kind) {
        case 'login':
          this.stopped = true;
          location.assign('/login');
          return;
        case 'invalid':
          this.setLink('invalid');
          delay = INVALID_RETRY_MS;
          break;
        case 'fatal':
          this.stopped = true;
          this.team.error = outcome.message;
          this.setLink('error');
          return;
        case 'rate':
          this.setLink('reconnecting');
          delay = outcome.after ?? this.backoff();
          break;
        default:
          if (outcome.healthy) this.attempt = 0;
          this.setLink('reconnecting');
          delay = this.backoff();
      }
      await sleep(delay);
    }
  }

  /** One connection, from fetch to the end of its body. */
  async connect() {
    const controller = new AbortController();
    let watchdog = 0;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), WATCHDOG_MS);
    };
    this.outcome = null;
    this.healthy = false;
    const headers = { Accept: 'text/event-stream' };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    arm();
    let response;
    try {
      response = await fetch(this.url(), { headers, credentials: 'same-origin', cache: 'no-store', signal: controller.signal });
    } catch {
      clearTimeout(watchdog);
      return { kind: 'retry', healthy: false };
    }
    if (response.status === 401 || (response.redirected && new URL(response.url).pathname === '/login')) {
      clearTimeout(watchdog);
      return { kind: page.displayKey === null ? 'login' : 'invalid' };
    }
    if (response.status === 403 || response.status === 404) {
      clearTimeout(watchdog);
      return { kind: 'fatal', message: await errorMessage(response) };
    }
    if (response.status === 429) {
      clearTimeout(watchdog);
      return { kind: 'rate', after: retryAfter(response) };
    }
    if (response.status === 400 && this.lastId) {
      // The server could not read our Last-Event-ID: start again from a snapshot.
      clearTimeout(watchdog);
      this.lastId = null;
      return { kind: 'retry', healthy: false };
    }
    const type = response.headers.get('Content-Type') ?? '';
    if (!response.ok || !response.body || !type.includes('text/event-stream')) {
      clearTimeout(watchdog);
      response.body?.cancel().catch(() => {});
      return { kind: 'retry', healthy: false };
    }
    const opened = Date.now();
    this.setLink('live');
    const reader = response.body.getReader();
    const decoder = new TextDecoder('utf-8');
    const parser = new SSEParser((frame) => this.onFrame(frame), (ms) => { this.retryMs = ms; });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.push(decoder.decode(value, { stream: true }));
        if (this.outcome) break;
      }
    } catch {
      // aborted by the watchdog, or the network went: reconnect
    } finally {
      clearTimeout(watchdog);
      controller.abort();
    }
    if (this.outcome) return this.outcome;
    return { kind: 'retry', healthy: this.healthy || Date.now() - opened >= HEALTHY_STREAM_MS };
  }

  onFrame(frame) {
    if (this.outcome) return;
    const team = this.team;
    if (frame.event === 'closing') {
      let reason = '';
      try { reason = JSON.parse(frame.data).reason ?? ''; } catch { reason = ''; }
      if (reason === 'token_revoked') this.outcome = { kind: page.displayKey === null ? 'login' : 'invalid' };
      else this.outcome = { kind: 'retry', healthy: true };
      return;
    }
    if (frame.event !== 'snapshot' && frame.event !== 'message') return;
    let data;
    try {
      data = JSON.parse(frame.data);
    } catch {
      return;
    }
    if (!data || typeof data !== 'object') return;
    if (data.team !== undefined && data.team !== team.name) return;
    if (frame.event === 'snapshot') {
      const serverNow = parseTime(data.now);
      if (serverNow !== null) page.clockOffset = serverNow - Date.now();
      team.applySnapshot(data);
    } else {
      if (!team.hasSnapshot) return;
      const result = team.applyEvent(data);
      if (result === 'gap') {
        // A lost event: reconnect from the last one applied, and the server replays the rest.
        // The same gap twice: start afresh from a snapshot instead.
        if (this.gapAt !== null && this.gapAt === this.lastId) this.lastId = null;
        this.gapAt = this.lastId;
        this.outcome = { kind: 'retry', healthy: false };
        return;
      }
      if (result === 'duplicate') return;
    }
    if (frame.id) this.lastId = frame.id;
    this.healthy = true;
    team.lastUpdate = page.lastUpdate = now();
    window.huddleBoard.lastEventId[team.name] = this.lastId;
    window.huddleBoard.appliedSeq[team.name] = team.seq;
    if (team.supSeq !== null) window.huddleBoard.appliedSupervisorsSeq[team.name] = team.supSeq;
    requestFrame();
  }
}

// ---------------------------------------------------------------------------------------------
// Start: the session, then one stream per team, and the one-second ticker

async function loadSession() {
  const url = '/v1/board/session' + (page.displayKey === null ? '' : '?display=' + encodeURIComponent(page.displayKey));
  let attempt = 0;
  const backoff = () => Math.min(MAX_BACKOFF_MS, 2000 * 2 ** Math.min(attempt++, 4)) * (0.75 + Math.random() * 0.5);
  for (;;) {
    let response;
    try {
      response = await fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch {
      page.sessionState = attempt > 0 ? 'reconnecting' : 'connecting';
      renderConnection();
      await sleep(backoff());
      continue;
    }
    if (response.status === 401) {
      if (page.displayKey === null) {
        location.assign('/login');
        return null;
      }
      page.sessionState = 'invalid';
      renderConnection();
      await sleep(INVALID_RETRY_MS);
      continue;
    }
    if (response.ok) {
      try {
        return await response.json();
      } catch {
        // a broken answer: try again
      }
    } else if (response.status === 403 || response.status === 404) {
      page.sessionState = 'error';
      renderConnection();
      showPageError(await errorMessage(response));
      return null;
    } else if (response.status === 429) {
      const after = retryAfter(response);
      page.sessionState = 'reconnecting';
      renderConnection();
      await sleep(after ?? backoff());
      continue;
    }
    page.sessionState = 'reconnecting';
    renderConnection();
    await sleep(backoff());
  }
}

function showPageError(text) {
  dom.pageError.textContent = text;
  delete dom.pageError.dataset.invalid;
  dom.pageError.hidden = false;
}

function setUpHeader(session, names) {
  const display = session.display === true || session.role === 'display';
  setText(dom.viewer, display ? 'Display' : (session.user ?? '') + (session.role ? ' · ' + session.role : ''));
  setText(dom.topTeams, names.join(' · '));
  document.title = 'Huddle · ' + names.join(', ');
  if (!display && !page.tv && typeof session.csrf === 'string') {
    dom.signout.querySelector('input[name="csrf"]').value = session.csrf;
    dom.signout.hidden = false;
  } else {
    dom.signout.remove();
  }
  if (names.length > 1 && !page.tv) {
    const list = dom.index.querySelector('ul');
    for (const name of names) {
      const li = el('li');
      const a = el('a', null);
      a.href = '#team-' + name.replace(/[^a-z0-9_.-]/gi, '_');
      const state = el('span', 'index-state');
      a.append(el('span', 'index-name', name), state);
      li.append(a);
      list.append(li);
      const team = page.teams.get(name);
      if (team) team.view.indexState = state;
    }
    dom.index.hidden = false;
  }
}

function scheduleTick() {
  const delay = 1000 - (now() % 1000) + 5;
  setTimeout(() => {
    page.tick = true;
    requestFrame();
    scheduleTick();
  }, delay);
}

async function start() {
  if (page.tv) {
    // On <html> too, so that rem sizes grow with the type.
    dom.body.classList.add('tv');
    document.documentElement.classList.add('tv');
    document.querySelector('.skip')?.remove();
  }
  renderConnection();
  const session = await loadSession();
  if (!session) return;
  page.role = session.role ?? null;
  const display = session.display === true || session.role === 'display';
  page.seesAlerts = !display && (page.role === 'supervisor' || page.role === 'admin');
  page.csrf = !display && typeof session.csrf === 'string' ? session.csrf : null;
  page.sessionState = 'ok';
  let names;
  if (page.pathTeam !== null) names = [page.pathTeam];
  else if (display && typeof session.team === 'string') names = [session.team];
  else names = Array.isArray(session.teams) ? session.teams.filter((n) => typeof n === 'string') : [];
  if (names.length === 0) {
    showPageError('You have no teams to watch. An admin can add you to one with huddled.');
    page.sessionState = 'error';
    renderConnection();
    return;
  }
  dom.body.classList.toggle('supervisor', page.seesAlerts);
  dom.body.classList.toggle('multi', names.length > 1);
  for (const name of names) page.teams.set(name, new Team(name));
  setUpHeader(session, names);
  for (const team of page.teams.values()) team.stream.run();
  scheduleTick();
  requestFrame();
  // Scrolling brings other rows near (see placeRows), and so does find-in-page.
  window.addEventListener('scroll', () => requestFrame(true), { passive: true });
  document.addEventListener('beforematch', () => requestFrame(true));
  window.addEventListener('resize', () => requestFrame(true), { passive: true });
}

start();
