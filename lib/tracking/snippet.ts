/**
 * The page snippet the browser route serves on GET (docs/browser-events.md): no dependencies,
 * about 2 KB. It sends text/plain JSON (sendBeacon, fetch keepalive): a "simple" cross-origin
 * request, so browsers need no CORS preflight. It sends the page's path only: query strings and
 * fragments can hold personal data (an e-mail in a sign-up link).
 */
export const BROWSER_SNIPPET = `(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || window.maTrack && window.maTrack.visitorId) return;
  var endpoint = me.src.split('?')[0], siteKey = me.getAttribute('data-site-key') || '';
  var KEY = 'ma_vid', TOKEN = 'ma_vt';
  function random(n) {
    var a = new Uint8Array(n), s = '', c = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    crypto.getRandomValues(a);
    for (var i = 0; i < n; i++) s += c[a[i] & 63];
    return s;
  }
  function load() {
    try { var v = localStorage.getItem(KEY); if (v) return v; } catch (e) {}
    var m = /(?:^|; )ma_vid=([A-Za-z0-9_-]{16,64})/.exec(document.cookie);
    return m ? m[1] : null;
  }
  function save(v) {
    try { localStorage.setItem(KEY, v); } catch (e) {}
    document.cookie = KEY + '=' + v + '; path=/; max-age=34560000; SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');
    return v;
  }
  var visitor = load() || save(random(22));
  function body(extra) {
    var b = { siteKey: siteKey, visitorId: visitor };
    for (var k in extra) b[k] = extra[k];
    return JSON.stringify(b);
  }
  function send(extra) {
    var text = body(extra);
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, text)) return;
    fetch(endpoint, { method: 'POST', body: text, keepalive: true, mode: 'cors', credentials: 'omit' }).catch(function () {});
  }
  function track(name, properties) {
    send({ events: [{ id: random(12), name: String(name), properties: properties || {} }] });
  }
  // A visitor tied to another contact is refused (409): a new visitor starts, tied to this one.
  function identify(who, events, retried) {
    return fetch(endpoint, { method: 'POST', body: body({ identify: who, events: events }), keepalive: true, mode: 'cors', credentials: 'omit' })
      .then(function (r) {
        if (r.status === 409 && !retried) { visitor = save(random(22)); return identify(who, undefined, true); }
        return r.ok;
      })
      .catch(function () { return false; });
  }
  function page(properties) {
    var p = { path: location.pathname };
    for (var k in properties || {}) p[k] = properties[k];
    track('page_viewed', p);
  }
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-ma-identify')) return;
    var email = form.querySelector('input[type=email]');
    if (!email || !email.value) return;
    identify({ email: email.value }, [{ id: random(12), name: 'form_submitted', properties: { form: form.getAttribute('data-ma-identify') || form.id || 'form', path: location.pathname } }]);
  }, true);
  var url = new URL(location.href), token = url.searchParams.get(TOKEN);
  if (token) {
    url.searchParams.delete(TOKEN);
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    identify({ token: token });
  }
  window.maTrack = {
    track: track,
    page: page,
    identify: function (email) { return identify({ email: String(email) }); },
    visitorId: function () { return visitor; }
  };
  if (me.getAttribute('data-page-views') !== 'off') page(window.maPage);
})();
`;
