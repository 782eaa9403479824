// Staff pages: shows each <time data-local> in the reader's own time zone (the server writes UTC).
(() => {
  const format = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
  for (const el of document.querySelectorAll('time[data-local]')) {
    const when = new Date(el.getAttribute('datetime'));
    const abs = el.querySelector('.abs');
    if (abs && !Number.isNaN(when.getTime())) abs.textContent = format.format(when);
  }
})();
