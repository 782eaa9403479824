// After a refused form, move focus to the error summary (the page works without this: the summary is also
// autofocus and role="alert"). Served from our own origin, as the CSP (script-src 'self') requires.
document.addEventListener('DOMContentLoaded', function () {
  var summary = document.querySelector('.error-summary');
  if (summary && document.activeElement !== summary) summary.focus();
});
