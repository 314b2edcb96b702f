'use strict';
/* Amparo caseworker desk — login page. Posts the form as JSON and, on success, goes
   to the console; the server keeps the session in an HTTP-only cookie. */
(() => {
  const form = document.getElementById('login-form');
  const username = document.getElementById('username');
  const password = document.getElementById('password');
  const button = document.getElementById('login');
  const error = document.getElementById('login-error');

  function fail(text, focus) {
    error.textContent = text;
    focus.focus();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    const name = username.value.trim();
    if (!name) return fail('Enter your username.', username);
    if (!password.value) return fail('Enter your password.', password);

    error.textContent = '';
    button.disabled = true;
    button.textContent = 'Logging in…';
    // Slow links: give up after 20 s rather than leave the button disabled forever.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 20000);
    try {
      const answer = await fetch('/api/login', {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ username: name, password: password.value }),
        signal: abort.signal,
      });
      let data = null;
      try { data = await answer.json(); } catch { /* not JSON: use the status below */ }
      if (answer.ok) {
        // The session lives in a Secure cookie: a browser that did not keep it (plain
        // http on an address that is not this machine's) would bring us back here.
        const check = await fetch('/api/me', { credentials: 'same-origin', cache: 'no-store' });
        if (check.ok) {
          window.location = '/' + window.location.hash; // a link to a case goes there
          return; // keep the button disabled while the console loads
        }
        fail('Your browser did not keep the session: open the console over https.', username);
      } else {
        password.value = '';
        fail((data && typeof data.error === 'string' && data.error)
          || `Logging in failed (the server answered ${answer.status}).`, password);
      }
    } catch {
      fail('Cannot reach the server. Check the connection and try again.', username);
    } finally {
      clearTimeout(timer);
    }
    button.disabled = false;
    button.textContent = 'Log in';
  });
})();
