/* app.js - the fleet dashboard (docs/dashboard.md). Every value from the
 * verifier reaches the page through textContent, setAttribute on a fixed
 * attribute name, or a number: never as markup. No library, nothing
 * fetched but this origin's JSON. */
'use strict';

(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  var state = null;
  var violations = 0;

  document.addEventListener('securitypolicyviolation', function () {
    violations++;
    var st = document.getElementById('status');
    if (st) st.dataset.violations = String(violations);
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function when(t) {
    if (!t) return 'never';
    var d = new Date(t * 1000), ago = Math.round(Date.now() / 1000 - t);
    var rel = ago < 60 ? ago + ' s ago' : ago < 3600 ? Math.round(ago / 60) + ' min ago'
      : ago < 86400 ? Math.round(ago / 3600) + ' h ago' : Math.round(ago / 86400) + ' d ago';
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') + ' (' + rel + ')';
  }

  function short(id) {
    var m = /\/agent\/(.*)$/.exec(id || '');
    return m ? m[1] : (id || '');
  }

  function cell(tr, text, cls) {
    var td = el('td', cls, text);
    tr.appendChild(td);
    return td;
  }


  function setStatus(name, text) {
    var st = document.getElementById('status');
    st.dataset.state = name;
    st.textContent = text;
  }

  /* user -> agent -> agent, each part its own element */
  function chain(td, user, agents) {
    var parts = [];
    if (user) parts.push({ t: user, c: 'user', full: user });
    (agents || []).forEach(function (a) { parts.push({ t: short(a), c: 'agent', full: a }); });
    parts.forEach(function (p, i) {
      if (i > 0) td.appendChild(el('span', 'arrow', ' \u2192 '));
      var s = el('span', p.c, p.t);
      s.title = p.full;
      td.appendChild(s);
    });
    if (parts.length === 0) td.appendChild(el('span', 'none', '(no chain)'));
  }

  function summary(s) {
    var box = document.getElementById('summary');
    clear(box);
    var trusted = s.hosts.filter(function (h) { return h.state === 'trusted'; }).length;
    var revoked = s.agents.filter(function (a) { return a.revoked; }).length;
    [['hosts trusted', trusted + ' / ' + s.hosts.length],
     ['agents', s.agents.length + (revoked ? ' (' + revoked + ' revoked)' : '')],
     ['decisions', s.decisions_total],
     ['denials', s.denials_total],
     ['policy', s.policy ? s.policy.substr(0, 12) : '(none)']].forEach(function (c) {
      var d = el('div', 'card');
      d.appendChild(el('div', 'label', c[0]));
      d.appendChild(el('div', 'value', c[1]));
      if (c[0] === 'policy') d.title = s.policy;
      box.appendChild(d);
    });
    if (s.hosts_truncated || s.agents_truncated)
      box.appendChild(el('div', 'card warn', 'lists cut at their cap'));
  }

  function hosts(list) {
    var tb = document.querySelector('#hosts tbody');
    clear(tb);
    list.forEach(function (h) {
      var tr = el('tr', 'host state-' + h.state);
      tr.dataset.host = h.host;
      tr.dataset.state = h.state;
      cell(tr, h.host, 'name');
      cell(tr, h.state + (h.unsafe_seen ? ' (unsafe shutdown seen)' : ''), 'badge');
      cell(tr, when(h.last_quote));
      cell(tr, when(h.last_good));
      cell(tr, h.boots);
      cell(tr, h.refset || '-');
      cell(tr, (h.reason ? h.reason + ': ' : '') + (h.detail || ''));
      tb.appendChild(tr);
    });
    if (list.length === 0) tb.appendChild(emptyRow(7, 'no hosts enrolled'));
  }

  function emptyRow(n, text) {
    var tr = el('tr', 'empty');
    var td = cell(tr, text);
    td.colSpan = n;
    return tr;
  }

  function scopes(td, granted, used) {
    granted.forEach(function (g) {
      var u = used.indexOf(g) >= 0;
      td.appendChild(el('span', u ? 'scope used' : 'scope unused', g));
      td.appendChild(document.createTextNode(' '));
    });
    used.filter(function (u) { return granted.indexOf(u) < 0; }).forEach(function (u) {
      td.appendChild(el('span', 'scope extra', u));
      td.appendChild(document.createTextNode(' '));
    });
    if (granted.length === 0) td.appendChild(el('span', 'none', '(none)'));
  }

  function agents(list, admin) {
    var tb = document.querySelector('#agents tbody');
    clear(tb);
    list.forEach(function (a) {
      var st = a.revoked ? 'revoked' : a.approved ? 'approved' : 'registered';
      var tr = el('tr', 'agent state-' + st);
      tr.dataset.agent = a.agent;
      tr.dataset.state = st;
      var name = cell(tr, short(a.agent), 'name');
      name.title = a.agent;
      cell(tr, a.host);
      var s = cell(tr, st, 'badge');
      if (a.revoked && a.revoke_reason) s.title = a.revoke_reason;
      if (a.revoked) s.appendChild(el('div', 'sub', a.revoke_reason));
      cell(tr, a.risk_tier + ' (' + a.risk_score + ')', 'risk-' + a.risk_tier);
      cell(tr, a.data_classes.join(' ') || '-');
      scopes(cell(tr, ''), a.scopes, a.scopes_used);
      cell(tr, a.allowed + ' allowed, ' + a.denied + ' denied' +
        (a.last_decision ? ', last ' + when(a.last_decision) : ''));
      var act = cell(tr, '');
      if (admin && !a.revoked) {
        var b = el('button', 'revoke', 'revoke');
        b.type = 'button';
        b.addEventListener('click', function () { revoke(a.agent, b); });
        act.appendChild(b);
      }
      tb.appendChild(tr);
    });
    if (list.length === 0) tb.appendChild(emptyRow(8, 'no agents reported'));
  }

  function revoke(id, button) {
    var reason = window.prompt('Reason for revoking ' + id + ' (audited):', '');
    if (reason === null) return;
    button.disabled = true;
    fetch('/v1/dashboard/revoke', {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', 'X-Attest-CSRF': state.viewer.csrf },
      body: JSON.stringify({ agent: id, reason: 'dashboard: ' + (reason || 'revoked') })
    }).then(function (r) {
      if (!r.ok) throw new Error('revocation refused (HTTP ' + r.status + ')');
      return load();
    }).catch(function (e) {
      button.disabled = false;
      setStatus('error', String(e.message || e));
    });
  }

  function decisionRows(tbodySel, list, full) {
    var tb = document.querySelector(tbodySel);
    clear(tb);
    list.forEach(function (d) {
      var tr = el('tr', 'decision ' + d.decision);
      tr.dataset.decision = d.decision;
      cell(tr, when(d.time));
      if (full) cell(tr, d.decision, 'badge');
      chain(cell(tr, '', 'chain'), d.user, d.chain);
      if (full) {
        var p = cell(tr, d.purpose || '-', 'purpose');
        if (d.purpose_text) p.appendChild(el('div', 'sub', d.purpose_text));
      }
      cell(tr, d.action);
      cell(tr, d.resource, 'resource');
      if (full) cell(tr, d.subject || '-');
      cell(tr, d.reason);
      if (full) {
        var an = cell(tr, typeof d.anomaly === 'number' ? d.anomaly.toFixed(2) : '-',
          typeof d.anomaly === 'number' && d.anomaly >= 0.5 ? 'anomalous' : '');
        if (d.anomaly_reason) an.appendChild(el('div', 'sub', d.anomaly_reason));
        cell(tr, d.caller);
      }
      else cell(tr, d.rule || '-');
      tb.appendChild(tr);
    });
    if (list.length === 0) tb.appendChild(emptyRow(full ? 10 : 6, 'none yet'));
  }

  /* per-minute bars: allow (lower) and deny (upper), one per minute */
  function timeChart(series) {
    var box = document.getElementById('chart-decisions');
    clear(box);
    var n = series.allow.length, W = 720, H = 160, pad = 28;
    var max = 1;
    for (var i = 0; i < n; i++) max = Math.max(max, series.allow[i] + series.deny[i]);
    var g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'class': 'svgchart' });
    g.appendChild(svg('title', {})).textContent = 'decisions per minute';
    var bw = (W - pad) / n;
    for (i = 0; i < n; i++) {
      var a = series.allow[i], d = series.deny[i];
      var ha = (H - 20) * a / max, hd = (H - 20) * d / max, x = pad + i * bw;
      if (a) g.appendChild(svg('rect', { x: x, y: H - 14 - ha, width: Math.max(bw - 1, 1), height: ha, 'class': 'bar-allow' }));
      if (d) g.appendChild(svg('rect', { x: x, y: H - 14 - ha - hd, width: Math.max(bw - 1, 1), height: hd, 'class': 'bar-deny' }));
    }
    g.appendChild(svg('line', { x1: pad, y1: H - 14, x2: W, y2: H - 14, 'class': 'axis' }));
    var top = svg('text', { x: 0, y: 12, 'class': 'tick' });
    top.textContent = String(max);
    g.appendChild(top);
    [0, n - 1].forEach(function (k) {
      var t = svg('text', { x: k === 0 ? pad : W - 40, y: H - 2, 'class': 'tick' });
      t.textContent = new Date((series.start + k * series.step) * 1000).toISOString().substr(11, 5);
      g.appendChild(t);
    });
    box.appendChild(g);
    var leg = el('p', 'legend');
    leg.appendChild(el('span', 'key allow', 'allow'));
    leg.appendChild(el('span', 'key deny', 'deny'));
    box.appendChild(leg);
  }

  /* denials by reason since the verifier started: horizontal bars */
  function reasonChart(list) {
    var box = document.getElementById('chart-reasons');
    clear(box);
    if (list.length === 0) { box.appendChild(el('p', 'note', 'no denials since start')); return; }
    var W = 720, row = 18, H = row * list.length + 4, max = 1;
    list.forEach(function (r) { max = Math.max(max, r.count); });
    var g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'class': 'svgchart' });
    list.forEach(function (r, i) {
      var w = (W - 330) * r.count / max;
      var t = svg('text', { x: 0, y: i * row + 13, 'class': 'tick' });
      t.textContent = r.reason;
      g.appendChild(t);
      g.appendChild(svg('rect', { x: 280, y: i * row + 3, width: Math.max(w, 1), height: row - 5, 'class': 'bar-deny' }));
      var c = svg('text', { x: 284 + w, y: i * row + 13, 'class': 'tick' });
      c.textContent = String(r.count);
      g.appendChild(c);
    });
    box.appendChild(g);
  }

  /* optional parts: a 404 means this verifier has none */
  function optional(have, url, note, render) {
    if (!have) {
      var m = document.getElementById(note);
      m.textContent = 'not available on this verifier';
      m.dataset.available = 'no';
      render(null);
      return Promise.resolve();
    }
    return fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      var n = document.getElementById(note);
      if (r.status === 404) { n.textContent = 'not available on this verifier'; n.dataset.available = 'no'; render(null); return; }
      if (!r.ok) { n.textContent = 'not available (HTTP ' + r.status + ')'; n.dataset.available = 'no'; render(null); return; }
      return r.json().then(function (j) { n.textContent = ''; n.dataset.available = 'yes'; render(j); });
    });
  }

  function alerts(j) {
    var tb = document.querySelector('#alerts tbody');
    clear(tb);
    var list = (j && Array.isArray(j.alerts)) ? j.alerts : [];
    list.forEach(function (a) {
      var tr = el('tr', 'alert');
      tr.dataset.agent = String(a.agent || '');
      cell(tr, typeof a.time === 'number' ? when(a.time) : String(a.time || ''));
      var n = cell(tr, short(String(a.agent || '')), 'name');
      n.title = String(a.agent || '');
      cell(tr, a.user || '-');
      cell(tr, typeof a.score === 'number' ? a.score.toFixed(2) : String(a.score || ''));
      cell(tr, (Array.isArray(a.reasons) ? a.reasons : []).map(String).join('; '));
      cell(tr, a.decision || '-');
      cell(tr, a.resource || '-', 'resource');
      cell(tr, a.purpose || '-');
      tb.appendChild(tr);
    });
    if (j && list.length === 0) tb.appendChild(emptyRow(8, 'no alerts'));
  }

  function posture(j) {
    var tb = document.querySelector('#posture tbody');
    clear(tb);
    var list = (j && Array.isArray(j.findings)) ? j.findings : [];
    list.forEach(function (f) {
      var tr = el('tr', 'finding sev-' + String(f.severity || '').replace(/[^a-z]/g, ''));
      tr.dataset.finding = String(f.id || '');
      cell(tr, f.severity, 'badge');
      cell(tr, f.id);
      cell(tr, f.subject);
      cell(tr, typeof f.evidence === 'string' ? f.evidence : JSON.stringify(f.evidence));
      cell(tr, f.fix);
      tb.appendChild(tr);
    });
    if (j && list.length === 0) tb.appendChild(emptyRow(5, 'no findings'));
  }

  function load() {
    return fetch('/v1/dashboard/state', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Error('state: HTTP ' + r.status);
        return r.json();
      }).then(function (s) {
        state = s;
        document.getElementById('viewer').textContent = s.viewer.admin
          ? 'signed in as admin ' + s.viewer.name + ' (revocation enabled)'
          : 'read-only (' + s.viewer.name + ')';
        summary(s);
        timeChart(s.series);
        hosts(s.hosts);
        agents(s.agents, s.viewer.admin);
        decisionRows('#decisions tbody', s.decisions, true);
        decisionRows('#denials tbody', s.denials, false);
        reasonChart(s.deny_reasons);
        return Promise.all([
          optional(s.parts.alerts, '/v1/dashboard/alerts?limit=50', 'alerts-note', alerts),
          optional(s.parts.posture, '/v1/dashboard/posture', 'posture-note', posture)]);
      }).then(function () {
        setStatus('ready', 'updated ' + when(state.generated));
      }).catch(function (e) {
        setStatus('error', String(e.message || e));
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    load();
    window.setInterval(load, 15000);
  });
}());
