/*
 * Follows a status page's request until it is final (src/features/status/live.ts, views/status/show.ejs): asks
 * /status/:id.json and puts the new state, reason, next step and timeline on the page in place. The state's box is a
 * polite live region, so a screen reader says the new state once, without moving focus. Quick at first (a delist
 * job takes a fraction of a second), then slower and slower; slow while the tab is hidden; stops at a final state.
 * Served from our origin (CSP script-src 'self'); without it the page refreshes itself (<noscript>).
 */
(function () {
  'use strict';
  var root = document.querySelector('[data-live-url]');
  if (!root || typeof window.fetch !== 'function') return;
  var url = root.getAttribute('data-live-url');
  var state = root.getAttribute('data-state');

  var QUICK_MS = 250; // between the starts of two asks while a queued request is young: its job usually ends within a second
  var QUICK_FOR_MS = 8000;
  var FIRST_SLOW_MS = 2000; // then, and for a request waiting for its email confirmation
  var SLOWEST_MS = 20000;
  var HIDDEN_MS = 15000;
  var TIMEOUT_MS = 10000;
  var GIVE_UP_MS = 2 * 3600 * 1000; // a request that has not moved for two hours (an unconfirmed one) is left alone

  var since = Date.now(); // when the request last moved on (or the page opened)
  var wait = FIRST_SLOW_MS;
  var timer = 0;
  var busy = false;
  var stopped = false;

  var part = function (name) { return document.querySelector('[data-live="' + name + '"]'); };
  var shown = function () { var list = part('events'); return list ? list.children.length : 0; };
  var note = part('note');
  if (note) note.hidden = false;

  function nextDelay() {
    if (document.hidden) return Math.max(wait, HIDDEN_MS);
    if (state === 'queued' && Date.now() - since < QUICK_FOR_MS) return QUICK_MS;
    var d = wait;
    wait = Math.min(SLOWEST_MS, Math.round(wait * 1.5));
    return d;
  }

  function schedule(ms) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (note && note.parentNode) note.parentNode.removeChild(note);
  }

  function eventItem(e) {
    var li = document.createElement('li');
    var time = document.createElement('time');
    time.setAttribute('datetime', e.at);
    time.textContent = e.when;
    var strong = document.createElement('strong');
    strong.textContent = e.label;
    li.appendChild(time);
    li.appendChild(document.createTextNode(' — ' + e.before));
    li.appendChild(strong);
    li.appendChild(document.createTextNode(e.after));
    return li;
  }

  // Text is only written when it changed: a rewrite of the same words in the live region could be read out again.
  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function show(data) {
    var box = root.querySelector('.state');
    if (box) box.className = 'state state-' + data.state;
    setText(part('label'), data.label);
    var reason = part('reason');
    if (reason) {
      setText(reason, data.reason);
      reason.hidden = !data.reason;
    }
    setText(part('next'), data.next);
    var list = part('events');
    if (list) {
      var items = document.createDocumentFragment();
      for (var i = 0; i < data.events.length; i++) items.appendChild(eventItem(data.events[i]));
      while (list.firstChild) list.removeChild(list.firstChild);
      list.appendChild(items);
    }
  }

  function poll() {
    if (busy || stopped) return;
    busy = true;
    var startedAt = Date.now();
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var abort = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : 0;
    fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store', signal: controller ? controller.signal : undefined })
      .then(function (res) {
        if (res.status === 429) {
          var after = Number(res.headers.get('Retry-After'));
          return { retryMs: (after > 0 ? after : 60) * 1000 };
        }
        if (res.status === 400 || res.status === 404) return { gone: true };
        if (!res.ok) return { retryMs: null };
        return res.json().then(function (data) { return { data: data }; });
      })
      .catch(function () { return { retryMs: null }; })
      .then(function (outcome) {
        clearTimeout(abort);
        busy = false;
        if (outcome.gone) return stop();
        if (!outcome.data) {
          // Limited, or the network or server failed: wait longer, never hammer.
          wait = Math.min(SLOWEST_MS * 3, Math.max(wait * 2, FIRST_SLOW_MS));
          return schedule(outcome.retryMs || wait);
        }
        var data = outcome.data;
        if (data.state !== state) {
          state = data.state;
          root.setAttribute('data-state', state);
          since = Date.now();
          wait = FIRST_SLOW_MS;
          show(data);
        } else if (data.events.length !== shown()) {
          show(data); // a step without a change of state: the region's text is the same, so nothing is said again
        }
        if (data.final || Date.now() - since > GIVE_UP_MS) return stop();
        // The pace counts from when this ask started, so a slow answer does not stretch the gap.
        schedule(Math.max(0, nextDelay() - (Date.now() - startedAt)));
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && !busy) schedule(0); // back on the tab: look now
  });
  // A queued request is asked about at once: its job may have ended while the page and this script loaded.
  schedule(state === 'queued' ? 0 : nextDelay());
})();
