// The staff dashboard's charts (Chart.js, served from our origin: /staff/assets/chart.umd.min.js). The page's tables
// hold the same numbers and stay reachable (a <details> under each chart); this script asks for the figures in the
// reader's own time zone (the days are counted there), redraws the tables from them, and draws the charts.
(() => {
  const root = document.querySelector('[data-dashboard]');
  if (!root || typeof window.Chart === 'undefined') return;
  const Chart = window.Chart;
  const zone = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; } })();
  const colors = ['#0b5cad', '#b3261e', '#6f42c1', '#1a7f37'];
  const hourLabel = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
  const absolute = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
  const reduced = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  Chart.defaults.animation = reduced ? false : { duration: 300 };
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.color = '#1b1f24';
  Chart.defaults.font.size = 13;

  const cell = (tag, text) => { const el = document.createElement(tag); el.textContent = String(text); if (tag === 'th') el.scope = 'row'; return el; };
  const row = (head, values) => { const tr = document.createElement('tr'); tr.append(head, ...values.map((v) => cell('td', v))); return tr; };
  const timeCell = (iso) => {
    const th = cell('th', '');
    const t = document.createElement('time');
    t.dateTime = iso;
    t.textContent = absolute.format(new Date(iso));
    th.append(t);
    return th;
  };
  /** Rewrites a table's body and totals from rows of {head, counts}. */
  function fill(id, rows, keys, head) {
    const table = document.getElementById(id);
    if (!table) return;
    table.tBodies[0].replaceChildren(...rows.map((r) => row(head(r), keys.map((k) => r.counts[k]))));
    const foot = table.tFoot && table.tFoot.rows[0];
    if (foot) keys.forEach((k, i) => { foot.cells[i + 1].textContent = String(rows.reduce((n, r) => n + r.counts[k], 0)); });
  }
  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    canvas.parentElement.hidden = false;
    new Chart(canvas, config);
    const details = canvas.closest('section').querySelector('details[data-table]');
    if (details) details.open = false;
  }

  function draw(d) {
    const keys = d.series.map((s) => s.key);
    const zoneLine = document.getElementById('dash-zone');
    if (zoneLine && root.dataset.zoneText) zoneLine.textContent = root.dataset.zoneText.replace('{zone}', d.timeZone);
    fill('table-hours', d.hours, keys, (h) => timeCell(h.at));
    fill('table-days', d.days, keys, (x) => cell('th', x.day));
    const lines = (rows) => d.series.map((s, i) => ({ label: s.label, data: rows.map((r) => r.counts[s.key]), borderColor: colors[i], backgroundColor: colors[i], pointRadius: 0, borderWidth: 2 }));
    chart('chart-hours', { type: 'line', data: { labels: d.hours.map((h) => hourLabel.format(new Date(h.at))), datasets: lines(d.hours) }, options: { interaction: { mode: 'index', intersect: false }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    chart('chart-days', { type: 'bar', data: { labels: d.days.map((x) => x.day.slice(5)), datasets: lines(d.days) }, options: { interaction: { mode: 'index', intersect: false }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    if (d.topTenants.length) {
      chart('chart-tenants', { type: 'bar', data: { labels: d.topTenants.map((x) => x.tenant), datasets: [{ label: root.dataset.tenantsLabel || 'Trusted reports', data: d.topTenants.map((x) => x.n), backgroundColor: colors[0] }] }, options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } } });
    }
    const sla = root.dataset.slaLabels ? root.dataset.slaLabels.split('|') : ['Overdue', 'Due soon', 'On track'];
    chart('chart-sla', { type: 'bar', data: { labels: d.sla.map((s) => s.kind), datasets: [
      { label: sla[0], data: d.sla.map((s) => s.overdue), backgroundColor: '#b3261e' },
      { label: sla[1], data: d.sla.map((s) => s.dueSoon), backgroundColor: '#9a6700' },
      { label: sla[2], data: d.sla.map((s) => s.onTrack), backgroundColor: '#1a7f37' },
    ] }, options: { indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } } });
  }

  fetch(`${root.dataset.dashboard}?tz=${encodeURIComponent(zone)}`, { credentials: 'same-origin', headers: { accept: 'application/json' } })
    .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`dashboard figures: ${res.status}`))))
    .then(draw)
    .catch(() => { /* the tables stay as the server wrote them (UTC) */ });
})();
