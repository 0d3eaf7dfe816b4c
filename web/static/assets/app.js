// ssegate demo page: sign in, start and watch prime-counting jobs over
// Server-Sent Events, tail logs. Plain script, no build step; the element ids
// it uses are listed at the top of index.html.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const root = document.documentElement;

  // Entries kept in a log pane; older ones are dropped so a long tail stays fast.
  const MAX_ENTRIES = 5000;
  // How long to wait for the gateway's `end` after a job's last event before
  // closing the stream anyway.
  const END_GRACE_MS = 10000;

  // gRPC code names, for error bodies that carry the number instead.
  const CODE_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED',
    'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
    'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL',
    'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

  const JOB_STATES = {
    JOB_STATE_RUNNING: 'running',
    JOB_STATE_COMPLETED: 'completed',
    JOB_STATE_FAILED: 'failed',
    JOB_STATE_CANCELLED: 'cancelled',
  };

  // ---------------------------------------------------------------- helpers

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function codeName(code) {
    if (typeof code === 'number') return CODE_NAMES[code] || 'UNKNOWN';
    return String(code);
  }

  // api calls the REST API with the session cookie and returns the parsed
  // JSON body, or throws an APIError built from the JSON error body.
  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'UNAVAILABLE', 'Cannot reach the server.');
    }
    const json = parseJSON(await res.text().catch(() => ''));
    if (!res.ok) {
      const code = json && json.code != null ? codeName(json.code) : 'HTTP_' + res.status;
      const message = (json && json.message) || res.statusText || 'HTTP ' + res.status;
      throw new APIError(res.status, code, message);
    }
    return json || {};
  }

  function parseJSON(text) {
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  // num reads a JSON number that may be missing (proto3 omits zeros) or a
  // string (64-bit fields).
  function num(v) {
    if (v === undefined || v === null || v === '') return 0;
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  }

  function fmt(n) {
    return Number(n).toLocaleString('en-US');
  }

  function setValue(el, n) {
    el.dataset.value = String(n);
    el.textContent = fmt(n);
  }

  function clearValue(el) {
    el.dataset.value = '';
    el.textContent = '–';
  }

  function fmtTime(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
  }

  function jobState(job) {
    return JOB_STATES[job && job.state] || 'unknown';
  }

  function describeError(e) {
    return e.code && !/^HTTP_/.test(e.code) ? e.message + ' (' + e.code + ')' : e.message;
  }

  // A log pane follows new entries (data-follow="true") until the user
  // scrolls up, and again once they scroll back to the bottom. It stays at
  // the bottom when it changes size, too.
  function followPane(pane) {
    pane.dataset.follow = 'true';
    pane.addEventListener('scroll', () => {
      const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 8;
      pane.dataset.follow = String(atBottom);
    });
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(() => {
        if (pane.dataset.follow === 'true') pane.scrollTop = pane.scrollHeight;
      }).observe(pane);
    }
  }

  function clearPane(pane) {
    pane.replaceChildren();
    pane.dataset.follow = 'true';
  }

  // appendEntry adds one log entry as one element, so a multi-line entry
  // stays together.
  function appendEntry(pane, text, id, note) {
    const div = document.createElement('div');
    div.className = note ? 'entry note' : 'entry';
    div.textContent = text;
    if (id) div.dataset.id = id;
    pane.appendChild(div);
    while (pane.childElementCount > MAX_ENTRIES) pane.firstElementChild.remove();
    if (pane.dataset.follow === 'true') pane.scrollTop = pane.scrollHeight;
  }

  function recordId(list, id) {
    const li = document.createElement('li');
    li.textContent = id;
    list.appendChild(li);
  }

  // ---------------------------------------------------------------- streams

  const CONN_LABELS = {
    idle: 'idle',
    connecting: 'connecting…',
    live: 'live',
    reconnecting: 'reconnecting…',
    ended: 'ended',
  };

  function setConn(el, state, detail) {
    el.dataset.state = state;
    el.textContent = CONN_LABELS[state] + (detail ? ' (' + detail + ')' : '');
  }

  const openStreams = new Set();

  function countStreams() {
    root.dataset.openStreams = String(openStreams.size);
  }

  // openStream watches url with an EventSource and keeps connEl up to date.
  // handlers maps event names to functions of (data, event); the ids of those
  // events are recorded in idsEl. The gateway's `end` closes the stream, and
  // its `error` event (a MessageEvent, unlike the EventSource's own error)
  // goes to onError and closes it too. onClose(reason) runs once.
  function openStream(url, opts) {
    const es = new EventSource(url, { withCredentials: true });
    const s = { es, closed: false, events: 0, close };
    openStreams.add(s);
    countStreams();
    setConn(opts.connEl, 'connecting');

    es.addEventListener('open', () => {
      if (!s.closed) setConn(opts.connEl, 'live');
    });
    for (const [name, fn] of Object.entries(opts.handlers)) {
      es.addEventListener(name, (ev) => {
        if (s.closed) return;
        s.events++;
        if (ev.lastEventId) recordId(opts.idsEl, ev.lastEventId);
        fn(ev.data, ev);
      });
    }
    es.addEventListener('end', () => close('end'));
    es.addEventListener('error', (ev) => {
      if (s.closed) return;
      if (typeof MessageEvent !== 'undefined' && ev instanceof MessageEvent) {
        const err = parseJSON(ev.data) || {};
        opts.onError(new APIError(0, codeName(err.code || 'UNKNOWN'), err.message || 'stream error'));
        close('error');
        return;
      }
      if (es.readyState === EventSource.CONNECTING) {
        setConn(opts.connEl, 'reconnecting');
        return;
      }
      // CLOSED: the server refused the stream (an HTTP error) or had nothing
      // more to send (204 after the end).
      close(s.events === 0 ? 'refused' : 'closed');
    });

    function close(reason, detail) {
      if (s.closed) return;
      s.closed = true;
      es.close();
      openStreams.delete(s);
      countStreams();
      setConn(opts.connEl, 'ended', detail);
      if (opts.onClose) opts.onClose(reason);
    }
    return s;
  }

  function closeAllStreams(detail) {
    for (const s of Array.from(openStreams)) s.close('stopped', detail);
  }

  // ---------------------------------------------------------------- session

  let username = null;

  async function checkSession(message) {
    try {
      const r = await api('GET', '/v1/sessions/current');
      showSignedIn(r.principal || {});
    } catch (e) {
      showSignedOut(e.status === 401 ? message || '' : describeError(e));
    }
  }

  function showSignedIn(principal) {
    const first = username === null;
    username = principal.username || '';
    $('whoami').textContent = username;
    $('whoami').dataset.username = username;
    $('loading').hidden = true;
    $('signin-section').hidden = true;
    $('session').hidden = false;
    $('app').hidden = false;
    if (first) {
      resetJobView();
      resetLogView();
      chosenLog = '';
    }
    refreshJobs();
    refreshLogs();
    root.dataset.ready = 'true';
  }

  function showSignedOut(message) {
    closeAllStreams('signed out');
    username = null;
    $('loading').hidden = true;
    $('session').hidden = true;
    $('app').hidden = true;
    $('signin-section').hidden = false;
    $('whoami').textContent = '';
    $('whoami').dataset.username = '';
    $('signin-error').textContent = message || '';
    $('signin-status').textContent = '';
    $('signin').disabled = false;
    root.dataset.ready = 'true';
  }

  // handleAuthError signs the page out when the session is gone. It returns
  // whether it did.
  function handleAuthError(e) {
    if (e.status === 401 || e.code === 'UNAUTHENTICATED') {
      checkSession('Your session has ended. Please sign in again.');
      return true;
    }
    return false;
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('username').value.trim();
    const password = $('password').value;
    const errEl = $('signin-error');
    if (!user || !password) {
      errEl.textContent = 'Enter a username and a password.';
      return;
    }
    errEl.textContent = '';
    $('signin-status').textContent = '';
    $('signin').disabled = true;
    try {
      const r = await api('POST', '/v1/sessions', { username: user, password });
      $('password').value = '';
      showSignedIn(r.principal || { username: user });
    } catch (e) {
      errEl.textContent = e.status === 401 ? e.message || 'Wrong username or password.' : describeError(e);
      $('password').select();
    } finally {
      $('signin').disabled = false;
    }
  });

  $('signout').addEventListener('click', async () => {
    username = null; // nothing may refresh lists while signing out
    closeAllStreams('signed out');
    try {
      await api('DELETE', '/v1/sessions/current');
    } catch (e) {
      // The streams are closed and the page forgets the user either way.
    }
    showSignedOut('');
    $('signin-status').textContent = 'You have signed out.';
    $('username').focus();
  });

  // ---------------------------------------------------------------- jobs

  // job is the watched job: { id, state, terminal, stream, endTimer }.
  let job = null;

  function setJobStatus(state, text) {
    const el = $('job-status');
    el.dataset.state = state;
    el.textContent = text || state;
    $('cancel-job').disabled = !(job && state === 'running' && !job.terminal);
  }

  function setProgress(percent) {
    const p = Math.max(0, Math.min(100, percent));
    const bar = $('progress');
    bar.value = p;
    bar.setAttribute('aria-valuenow', String(Math.round(p)));
    bar.setAttribute('aria-valuetext', p.toFixed(1) + '%');
    $('percent').textContent = (p === 100 ? '100' : p.toFixed(1)) + '%';
  }

  function resetJobView() {
    if (job && job.stream) job.stream.close('replaced');
    if (job) clearTimeout(job.endTimer);
    job = null;
    $('job-panel').hidden = true;
    $('job-panel').dataset.jobId = '';
    $('job-id').textContent = '';
    $('job-error').textContent = '';
    setJobStatus('', '');
    setProgress(0);
    for (const id of ['partial-count', 'partial-largest', 'result-count', 'result-largest', 'elapsed']) {
      clearValue($(id));
    }
    clearPane($('job-log'));
    $('event-ids').replaceChildren();
    $('event-ids').dataset.jobId = '';
    setConn($('conn-state'), 'idle');
    markWatched();
  }

  // finishJob notes a job's last event; the gateway's `end` follows.
  function finishJob(state, text) {
    if (!job) return;
    job.terminal = state;
    job.state = state;
    setJobStatus(state, text);
    const watched = job;
    clearTimeout(job.endTimer);
    job.endTimer = setTimeout(() => {
      if (watched.stream) watched.stream.close('no end');
    }, END_GRACE_MS);
    refreshJobs();
    refreshLogs();
  }

  function watchJob(j) {
    resetJobView();
    const id = j.id;
    job = { id, state: jobState(j), terminal: null, stream: null, endTimer: 0, sawLog: false };
    $('job-panel').hidden = false;
    $('job-panel').dataset.jobId = id;
    $('job-id').textContent = id;
    $('event-ids').dataset.jobId = id;
    setJobStatus(job.state, job.state);
    markWatched();

    const watched = job;
    job.stream = openStream('/v1/jobs/' + encodeURIComponent(id) + '/events', {
      connEl: $('conn-state'),
      idsEl: $('event-ids'),
      handlers: {
        progress(data) {
          const d = parseJSON(data) || {};
          const total = num(d.total);
          const percent = d.percent !== undefined ? num(d.percent) : total > 0 ? (100 * num(d.done)) / total : 0;
          setProgress(percent);
        },
        partial(data) {
          const d = parseJSON(data) || {};
          setValue($('partial-count'), num(d.count));
          setValue($('partial-largest'), num(d.largest));
        },
        log(data, ev) {
          appendEntry($('job-log'), data, ev.lastEventId);
          // The job's first line creates its log: offer it in the chooser.
          if (!watched.sawLog) {
            watched.sawLog = true;
            refreshLogs();
          }
        },
        completed(data) {
          const d = parseJSON(data) || {};
          setProgress(100);
          setValue($('partial-count'), num(d.count));
          setValue($('partial-largest'), num(d.largest));
          setValue($('result-count'), num(d.count));
          setValue($('result-largest'), num(d.largest));
          const ms = num(d.elapsedMs);
          $('elapsed').dataset.value = String(ms);
          $('elapsed').textContent = ms < 1000 ? fmt(ms) + ' ms' : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
          finishJob('completed', 'completed');
        },
        failed(data) {
          const d = parseJSON(data) || {};
          $('job-error').textContent = 'The job failed: ' + (d.message || 'no reason given');
          finishJob('failed', 'failed');
        },
        cancelled(data) {
          const d = parseJSON(data) || {};
          finishJob('cancelled', d.by ? 'cancelled by ' + d.by : 'cancelled');
        },
      },
      onError(e) {
        $('job-error').textContent = 'Stream error: ' + describeError(e);
        handleAuthError(e);
      },
      onClose(reason) {
        clearTimeout(watched.endTimer);
        watched.stream = null;
        if (job !== watched) return;
        $('cancel-job').disabled = true;
        if (reason === 'refused' && !$('job-error').textContent) {
          $('job-error').textContent = 'The server refused the job stream.';
          if (username !== null) checkSession('Your session has ended. Please sign in again.');
        }
        // After a sign-out (stopped) there is nobody to list jobs for.
        if (reason !== 'replaced' && reason !== 'stopped') refreshJobs();
      },
    });
  }

  $('job-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('limit');
    const raw = input.value.trim();
    const errEl = $('job-error');
    const body = {};
    if (input.validity.badInput) {
      errEl.textContent = 'The limit must be a whole number.';
      return;
    }
    if (raw !== '') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 2 || n > 2000000000) {
        errEl.textContent = 'The limit must be a whole number from 2 to 2,000,000,000.';
        return;
      }
      body.limit = n;
    }
    errEl.textContent = '';
    $('start-job').disabled = true;
    try {
      const j = await api('POST', '/v1/jobs', body);
      watchJob(j);
      refreshJobs();
      refreshLogs();
    } catch (e) {
      if (!handleAuthError(e)) errEl.textContent = 'Could not start the job: ' + describeError(e);
    } finally {
      $('start-job').disabled = false;
    }
  });

  $('cancel-job').addEventListener('click', async () => {
    if (!job) return;
    const watched = job;
    $('cancel-job').disabled = true;
    try {
      const j = await api('POST', '/v1/jobs/' + encodeURIComponent(watched.id) + ':cancel', {});
      // The stream's `cancelled` event sets the final state; this covers a
      // job that had already finished.
      if (job === watched && !watched.terminal && jobState(j) !== 'running') {
        setJobStatus(jobState(j), jobState(j));
      }
    } catch (e) {
      if (!handleAuthError(e)) $('job-error').textContent = 'Could not cancel the job: ' + describeError(e);
      if (job === watched) setJobStatus(watched.state, $('job-status').textContent);
    }
    refreshJobs();
  });

  let jobsSeq = 0;

  async function refreshJobs() {
    if (username === null) return;
    const seq = ++jobsSeq;
    let r;
    try {
      r = await api('GET', '/v1/jobs');
    } catch (e) {
      if (!handleAuthError(e) && seq === jobsSeq) $('job-error').textContent = 'Could not list jobs: ' + describeError(e);
      return;
    }
    if (seq !== jobsSeq) return;
    renderJobs(r.jobs || []);
  }

  function renderJobs(jobs) {
    const list = $('jobs-list');
    const items = jobs.map((j) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.jobId = j.id;
      const state = jobState(j);

      const id = document.createElement('span');
      id.className = 'jl-id';
      id.textContent = j.id;
      const st = document.createElement('span');
      st.className = 'jl-state';
      st.dataset.state = state;
      st.textContent = state;
      const detail = document.createElement('span');
      detail.className = 'jl-detail';
      const parts = ['below ' + fmt(num(j.limit))];
      if (state === 'completed') parts.push(fmt(num(j.count)) + ' primes');
      const t = fmtTime(j.createTime);
      if (t) parts.push(t);
      detail.textContent = parts.join(' · ');

      b.append(id, st, detail);
      b.setAttribute('aria-label', 'Watch job ' + j.id + ', ' + state + ', ' + parts.join(', '));
      b.addEventListener('click', () => watchJob(j));
      li.appendChild(b);
      return li;
    });
    list.replaceChildren(...items);
    $('jobs-empty').hidden = jobs.length > 0;
    markWatched();
  }

  function markWatched() {
    for (const b of $('jobs-list').querySelectorAll('button[data-job-id]')) {
      if (job && b.dataset.jobId === job.id) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  $('refresh-jobs').addEventListener('click', refreshJobs);

  // ---------------------------------------------------------------- logs

  let tail = null; // the log stream

  function resetLogView() {
    stopTail();
    clearPane($('log-pane'));
    $('log-event-ids').replaceChildren();
    $('log-event-ids').dataset.logName = '';
    $('log-error').textContent = '';
    setConn($('log-conn-state'), 'idle');
  }

  function stopTail() {
    if (tail) tail.close('stopped');
    tail = null;
    $('stop-tail').disabled = true;
  }

  let logsSeq = 0;
  let chosenLog = ''; // the log the user picked in the chooser, if any

  async function refreshLogs() {
    if (username === null) return;
    const seq = ++logsSeq;
    let r;
    try {
      r = await api('GET', '/v1/logs');
    } catch (e) {
      if (!handleAuthError(e) && seq === logsSeq) $('log-error').textContent = 'Could not list logs: ' + describeError(e);
      return;
    }
    if (seq !== logsSeq) return;
    const select = $('log-name');
    const previous = select.value;
    const logs = r.logs || [];
    const options = logs.map((l) => {
      const o = document.createElement('option');
      o.value = l.name;
      o.textContent = l.name + (l.finished ? ' (finished)' : '');
      return o;
    });
    if (options.length === 0) {
      const o = document.createElement('option');
      o.value = '';
      o.textContent = 'No logs yet';
      options.push(o);
    }
    select.replaceChildren(...options);
    // Keep what the user chose; otherwise offer the watched job's log.
    const jobLog = job ? 'job-' + job.id : '';
    const has = (name) => name && logs.some((l) => l.name === name);
    if (has(chosenLog)) select.value = chosenLog;
    else if (has(jobLog)) select.value = jobLog;
    else if (has(previous)) select.value = previous;
    $('tail-log').disabled = logs.length === 0;
  }

  function tailLog(name) {
    resetLogView();
    $('log-event-ids').dataset.logName = name;
    $('stop-tail').disabled = false;
    const s = openStream('/v1/logs/' + encodeURIComponent(name) + '/events?follow=true', {
      connEl: $('log-conn-state'),
      idsEl: $('log-event-ids'),
      handlers: {
        log(data, ev) {
          appendEntry($('log-pane'), data, ev.lastEventId);
        },
      },
      onError(e) {
        $('log-error').textContent = 'Stream error: ' + describeError(e);
        handleAuthError(e);
      },
      onClose(reason) {
        if (tail !== s) return;
        tail = null;
        $('stop-tail').disabled = true;
        if (reason === 'end') appendEntry($('log-pane'), '— end of log —', '', true);
        if (reason === 'refused' && !$('log-error').textContent) {
          $('log-error').textContent = 'The server refused the log stream.';
          if (username !== null) checkSession('Your session has ended. Please sign in again.');
        }
      },
    });
    tail = s;
  }

  $('log-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('log-name').value;
    if (!name) {
      $('log-error').textContent = 'Choose a log first.';
      return;
    }
    tailLog(name);
  });

  $('log-name').addEventListener('change', () => {
    chosenLog = $('log-name').value;
  });
  $('stop-tail').addEventListener('click', stopTail);
  $('refresh-logs').addEventListener('click', refreshLogs);

  // ---------------------------------------------------------------- start

  root.dataset.openStreams = '0';
  followPane($('job-log'));
  followPane($('log-pane'));
  checkSession('');
})();
