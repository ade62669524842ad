"use strict";
// The checks table: rows are indexes into one string list; filtering and sorting work on
// those indexes and only one page of rows is ever in the DOM, so 100k rows stay quick.
// Every value reaches the page through textContent, never as markup.
(function () {
  const holder = document.getElementById("checks-data");
  const copyButtons = document.querySelectorAll("button.copy");
  copyButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      const pre = button.closest("figure").querySelector("pre");
      if (navigator.clipboard) {
        navigator.clipboard.writeText(pre.textContent).then(
          function () { button.textContent = "Copied"; },
          function () { button.textContent = "Select and copy"; }
        );
      }
    });
  });
  if (!holder) return;
  const data = JSON.parse(holder.textContent);
  const S = data.strings;
  const columns = data.columns;
  const rows = data.rows;
  const PAGE = 100;
  const rank = new Map(data.verdicts.map(function (v, i) { return [v, i]; }));
  const visible = [];
  columns.forEach(function (c, i) { if (!c.hidden) visible.push(i); });
  const byName = new Map(columns.map(function (c, i) { return [c.name, i]; }));
  const verdictColumn = columns.findIndex(function (c) { return c.kind === "verdict"; });

  const state = { selects: new Map(), text: "", sort: -1, dir: 1, page: 0 };
  let lower = null; // S lower-cased, made on first text search
  let shown = rows.map(function (_, i) { return i; });

  const table = document.getElementById("table");
  const headRow = table.tHead.rows[0];
  const body = table.tBodies[0];
  const status = document.getElementById("status");
  const text = document.getElementById("text");

  visible.forEach(function (i) {
    const th = document.createElement("th");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = columns[i].name;
    button.dataset.column = String(i);
    button.addEventListener("click", function () { sortBy(i); });
    th.appendChild(button);
    headRow.appendChild(th);
  });

  document.querySelectorAll("select[data-column]").forEach(function (select) {
    const column = Number(select.dataset.column);
    const counts = new Map();
    rows.forEach(function (row) { counts.set(row[column], (counts.get(row[column]) || 0) + 1); });
    const ids = Array.from(counts.keys());
    if (column === verdictColumn) {
      ids.sort(function (a, b) { return (rank.get(S[a]) ?? 99) - (rank.get(S[b]) ?? 99); });
      const failing = document.createElement("option");
      failing.value = "failing";
      failing.textContent = "failing";
      select.appendChild(failing);
    } else {
      ids.sort(function (a, b) { return S[a] < S[b] ? -1 : S[a] > S[b] ? 1 : 0; });
    }
    ids.forEach(function (id) {
      const option = document.createElement("option");
      option.value = String(id);
      option.textContent = S[id] + " (" + counts.get(id) + ")";
      select.appendChild(option);
    });
    select.addEventListener("change", function () {
      state.selects.set(column, select.value);
      apply();
    });
  });

  let timer = 0;
  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.text = text.value.trim().toLowerCase(); apply(); }, 120);
  });
  document.getElementById("prev").addEventListener("click", function () { turn(-1); });
  document.getElementById("next").addEventListener("click", function () { turn(1); });

  // Diagram nodes and verdict badges set the filters.
  document.querySelectorAll("#diagram .node[data-filter]").forEach(function (node) {
    const go = function () {
      text.value = node.getAttribute("data-filter");
      state.text = text.value.toLowerCase();
      apply();
      document.getElementById("checks").scrollIntoView();
    };
    node.addEventListener("click", go);
    node.addEventListener("keydown", function (e) { if (e.key === "Enter") go(); });
  });
  document.querySelectorAll(".badge[data-verdict]").forEach(function (badge) {
    badge.addEventListener("click", function () {
      const select = document.querySelector('select[data-column="' + verdictColumn + '"]');
      const id = S.indexOf(badge.dataset.verdict);
      if (!select || id < 0) return;
      select.value = String(id);
      state.selects.set(verdictColumn, select.value);
      apply();
      document.getElementById("checks").scrollIntoView();
    });
  });

  function matches(row, hits) {
    for (const [column, value] of state.selects) {
      if (value === "") continue;
      if (value === "failing") {
        const r = rank.get(S[row[column]]);
        if (r === undefined || r >= rank.get("skipped")) return false;
      } else if (String(row[column]) !== value) {
        return false;
      }
    }
    if (hits === null) return true;
    for (let i = 0; i < row.length; i++) if (hits[row[i]]) return true;
    return false;
  }

  function apply() {
    let hits = null;
    if (state.text) {
      if (lower === null) lower = S.map(function (s) { return s.toLowerCase(); });
      hits = new Uint8Array(S.length);
      for (let i = 0; i < lower.length; i++) if (lower[i].includes(state.text)) hits[i] = 1;
    }
    shown = [];
    for (let i = 0; i < rows.length; i++) if (matches(rows[i], hits)) shown.push(i);
    order();
    state.page = 0;
    draw();
  }

  function key(column) {
    const kind = columns[column].kind;
    if (kind === "verdict") return function (id) { return rank.get(S[id]) ?? 99; };
    if (kind === "port") return function (id) { return parseInt(S[id], 10) || 0; };
    return function (id) { return S[id].toLowerCase(); };
  }

  function order() {
    if (state.sort < 0) return;
    const column = state.sort;
    const k = key(column);
    const keys = new Map();
    shown.forEach(function (i) {
      const id = rows[i][column];
      if (!keys.has(id)) keys.set(id, k(id));
    });
    const dir = state.dir;
    shown.sort(function (a, b) {
      const x = keys.get(rows[a][column]);
      const y = keys.get(rows[b][column]);
      return x < y ? -dir : x > y ? dir : a - b;
    });
  }

  function sortBy(column) {
    state.dir = state.sort === column ? -state.dir : 1;
    state.sort = column;
    headRow.querySelectorAll("th").forEach(function (th) {
      const b = th.firstChild;
      const mine = Number(b.dataset.column) === column;
      th.setAttribute("aria-sort", mine ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });
    order();
    state.page = 0;
    draw();
  }

  function turn(step) {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(pages - 1, Math.max(0, state.page + step));
    draw();
  }

  function cell(row, column) {
    const td = document.createElement("td");
    const c = columns[column];
    const value = S[row[column]];
    if (c.kind === "verdict") {
      const span = document.createElement("span");
      span.className = rank.has(value) ? "verdict v-" + value : "verdict";
      span.textContent = value;
      td.appendChild(span);
    } else if (c.kind === "link") {
      const url = c.href && byName.has(c.href) ? S[row[byName.get(c.href)]] : "";
      if (/^https?:\/\//.test(url)) {
        const a = document.createElement("a");
        a.href = url;
        a.rel = "noreferrer";
        a.textContent = value || url;
        a.title = url;
        td.appendChild(a);
      } else {
        td.textContent = value;
      }
    } else {
      td.textContent = value;
      if (c.kind === "pre") td.className = "pre";
    }
    return td;
  }

  function draw() {
    const start = state.page * PAGE;
    const end = Math.min(shown.length, start + PAGE);
    const fragment = document.createDocumentFragment();
    for (let n = start; n < end; n++) {
      const row = rows[shown[n]];
      const tr = document.createElement("tr");
      if (verdictColumn >= 0) tr.dataset.verdict = S[row[verdictColumn]];
      visible.forEach(function (column) { tr.appendChild(cell(row, column)); });
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    status.textContent =
      (shown.length ? start + 1 + "–" + end : "0") + " of " + shown.length +
      (shown.length !== rows.length ? " (filtered from " + rows.length + ")" : "") +
      " · page " + (state.page + 1) + "/" + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
  }

  draw();
  document.body.dataset.ready = "true";
})();
