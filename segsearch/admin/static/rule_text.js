/* segsearch admin: the rule editor's text mode (README "Rules as text"). Plain JavaScript,
   nothing loaded from elsewhere. It talks to the block editor (admin.js) only through the
   page: the rule's JSON box (#rule-json) and its "Apply JSON to the editor" button, so the
   block editor, its preview and the form keep working as they are. */
(function () {
  "use strict";

  const PARSE_DELAY_MS = 400;
  const MAX_ITEMS = 12;
  // Mirrors the grammar's VALUE terminal (segsearch/rules/rule_text.lark): else quoted.
  const BARE_VALUE = /^(?!(?:and|but|is|between)\b)[^\s,;()"#]+(?:[ \t]+(?!(?:and|but|is|between)\b)[^\s,;()"#]+)*$/i;
  const FIELD_START = /^(?!(?:is|between|at|on|count|sum|exactly|but|and|where|ignoring|not|today|any|days?)\b)[A-Za-z][\w.'/-]*(?: (?!(?:is|between|at|on|count|sum|exactly|but|and|where|ignoring|not|today|any|days?)\b)[A-Za-z][\w.'/-]*)*$/i;
  const WHERE_LISTS = [["status", null], ["store", null], ["pipeline", null], ["product", "products"],
    ["product group", "product_groups"]];

  function readJSON(id, fallback) {
    const node = document.getElementById(id);
    if (!node) return fallback;
    try { return JSON.parse(node.textContent); } catch (e) { return fallback; }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function postJSON(url, payload) {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(payload),
    });
    const body = await res.json().catch(function () { return {}; });
    return { ok: res.ok, status: res.status, body: body };
  }

  function quoteValue(v) { return BARE_VALUE.test(v) ? v : JSON.stringify(v); }

  // ---------------------------------------------------------------- what to suggest

  /** Where the caret is: nesting depth, the "(" it is in, the text since the last separator. */
  function caretContext(text, caret) {
    const before = text.slice(0, caret);
    let depth = 0, open = -1, start = 0, quoted = false, comment = false;
    for (let i = 0; i < before.length; i++) {
      const c = before[i];
      if (comment) { if (c === "\n") { comment = false; start = i + 1; } continue; }
      if (quoted) { if (c === "\\") i++; else if (c === '"') quoted = false; continue; }
      if (c === '"') quoted = true;
      else if (c === "#") comment = true;
      else if (c === "(") { depth++; open = i; start = i + 1; }
      else if (c === ")") { depth = Math.max(0, depth - 1); start = i + 1; }
      else if (c === ";" || c === "\n") start = i + 1;
    }
    if (comment) return null;
    const segment = before.slice(start).replace(/^\s+/, "");
    const blockMatch = open >= 0 ? before.slice(0, open).match(/(\w+)\s*(?:(?:all|any)\s*(?:of\s*)?)?$/i) : null;
    return { before: before, depth: depth, segment: segment, block: blockMatch ? blockMatch[1].toLowerCase() : null };
  }

  class Suggester {
    constructor(fields, suggestions, blocks) {
      this.fields = fields;
      this.suggestions = suggestions;
      this.blocks = blocks;
      const labels = {};
      fields.forEach((f) => { const k = f.label.toLowerCase(); labels[k] = (labels[k] || 0) + 1; });
      const codes = {};
      fields.forEach((f) => { codes[f.code.toLowerCase()] = f; });
      // The name the text uses: the label when it reads back as this field, else the code.
      this.names = fields.map((f) => {
        const label = f.label.toLowerCase();
        const byLabel = FIELD_START.test(f.label) && labels[label] === 1 && (codes[label] || f) === f;
        return { field: f, name: byLabel ? f.label : f.code };
      });
    }

    /** [{label, hint, insert, from}] for the caret; `from` is where the replaced text starts. */
    at(text, caret) {
      const ctx = caretContext(text, caret);
      if (!ctx) return [];
      if (ctx.depth === 0) return this.blockItems(ctx, caret);
      const found = this.fieldOf(ctx.segment);
      if (!found) return this.fieldItems(ctx, caret);
      const rest = ctx.segment.slice(found.length).replace(/^\s+/, "");
      return this.valueItems(found.field, rest, caret) || this.operatorItems(found.field, rest, caret);
    }

    blockItems(ctx, caret) {
      const word = (ctx.before.match(/\w*$/) || [""])[0];
      const items = this.blocks.flatMap((b) => [
        { label: b + " ALL (", hint: "all of its conditions", insert: b + " ALL (\n  ", after: "\n)\n" },
        { label: "NOT " + b + " ALL (", hint: "exclude those who match", insert: "NOT " + b + " ALL (\n  ", after: "\n)\n" }]);
      if (!ctx.before.trim()) items.unshift({ label: "ALL OF", hint: "every block", insert: "ALL OF\n" },
        { label: "ANY OF", hint: "at least one block", insert: "ANY OF\n" });
      return this.filter(items, word, caret - word.length);
    }

    fieldOf(segment) {
      const lower = segment.toLowerCase();
      let best = null;
      this.fields.forEach((f) => {
        [f.label, f.code, JSON.stringify(f.code)].forEach((name) => {
          const n = name.toLowerCase();
          if (lower.startsWith(n) && /\s/.test(lower.charAt(n.length)) && (!best || n.length > best.length)) {
            best = { field: f, length: n.length };
          }
        });
      });
      return best;
    }

    fieldItems(ctx, caret) {
      const mine = this.names.filter((n) => !ctx.block || n.field.block === ctx.block);
      const items = mine.map((n) => ({ label: n.name, hint: n.field.type + (n.name.toLowerCase() === n.field.code ? "" : " · " + n.field.code),
        insert: n.name + " " }));
      return this.filter(items, ctx.segment, caret - ctx.segment.length, true);
    }

    operatorItems(f, rest, caret) {
      if (/^(count|sum)\b/i.test(rest) && f.type === "orders") return this.whereItems(rest, caret);
      const ops = f.operators, dated = f.type === "date" || f.type === "datetime";
      const items = [];
      const add = (insert, hint) => items.push({ label: insert.trim(), hint: hint || "", insert: insert });
      if (ops.includes("in")) { add("is one of ", "include values"); add("is not one of ", "exclude values"); }
      if (ops.includes("is")) { add("is yes"); add("is no"); }
      if (ops.includes("between") && !dated) { add("between ", "from … and … (inclusive)"); add("at least "); add("at most "); }
      if (ops.includes("between") && dated) { add("between 2025-01-01 and 2025-12-31", "dates"); add("on or after "); add("on or before "); }
      if (ops.includes("relative")) add("between -30d and today", "days from today");
      if (f.type === "date") { add("between today and +7d ignoring the year", "every year"); add("between 12-01 and 12-31", "month-days"); }
      if (ops.includes("count")) { add("count at least 1 "); add("count exactly 0 ", "has no such order"); add("count between 1 and 3 "); }
      if (ops.includes("sum")) add("sum at least 100 ", "sum of order totals");
      if (ops.includes("exists")) { add("is filled in"); add("is empty"); }
      return this.filter(items, rest, caret - rest.length);
    }

    whereItems(rest, caret) {
      const word = (rest.match(/\w*$/) || [""])[0];
      const joiner = /\bwhere\b/i.test(rest) ? "and " : "where ";
      if (!/\s$/.test(rest.slice(0, rest.length - word.length))) return [];
      const parts = WHERE_LISTS.map(([name]) => name + " is one of ")
        .concat(["created between -30d and today ", "total at least "]);
      const items = parts.map((p) => ({ label: joiner + p.trim(), hint: "", insert: joiner + p }));
      if (/^(where|and)$/i.test(word)) return this.filter(parts.map((p) => ({ label: p.trim(), insert: p, hint: "" })), "", caret);
      return this.filter(items, word, caret - word.length);
    }

    valueItems(f, rest, caret) {
      const where = rest.match(/\b(?:where|and)\s+(status(?:es)?|stores?|pipelines?|product\s+groups?|products?)\s+is\s+one\s+of\s+((?:[^,]*,\s*)*)([^,]*)$/i);
      let pool, typed;
      if (where && f.type === "orders") {
        const name = where[1].toLowerCase().replace(/\s+/, " ");
        const key = WHERE_LISTS.find(([n]) => name.startsWith(n) && (name === n || name === n + "s" || name === n + "es"));
        pool = key && key[1] ? (this.suggestions[key[1]] || []) : [];
        typed = where[3];
      } else {
        const m = rest.match(/^is\s+(?:not\s+)?one\s+of\s+(.*)$/i);
        if (!m) return null;
        const tail = m[1].split(/\bbut\s+not\b/i).pop();
        typed = tail.split(",").pop().replace(/^\s+/, "");
        pool = f.values || this.suggestions[f.code] || [];
        if (m[1].trim() && !/\bbut\b/i.test(m[1]) && /,?\s+$/.test(m[1]) && !/,\s*$/.test(m[1])) {
          return this.filter([{ label: "but not", hint: "exclude values", insert: "but not " }], "", caret);
        }
      }
      const items = pool.map((v) => ({ label: String(v), hint: "", insert: quoteValue(String(v)) }));
      return this.filter(items, typed, caret - typed.length);
    }

    filter(items, typed, from, anywhere) {
      const t = typed.toLowerCase();
      return items.filter((i) => (anywhere ? i.label.toLowerCase().includes(t) || (i.hint || "").toLowerCase().includes(t)
        : i.label.toLowerCase().startsWith(t)) && i.label.toLowerCase() !== t.trimEnd())
        .slice(0, MAX_ITEMS).map((i) => Object.assign({ from: from }, i));
    }
  }

  // ---------------------------------------------------------------- the text mode

  class TextMode {
    constructor(root) {
      this.root = root;
      this.formatUrl = root.dataset.formatUrl;
      this.parseUrl = root.dataset.parseUrl;
      this.readonly = root.dataset.readonly === "true";
      this.modeInput = document.getElementById("rule-mode-input");
      this.pane = document.getElementById("rule-text-pane");
      this.text = document.getElementById("rule-text");
      this.backdrop = document.getElementById("rule-text-backdrop");
      this.list = document.getElementById("rule-text-complete");
      this.errorBox = document.getElementById("rule-text-error");
      this.status = document.getElementById("rule-text-status");
      this.json = document.getElementById("rule-json");
      this.apply = document.getElementById("apply-json");
      this.blocks = [document.getElementById("rule-editor"), document.querySelector(".rule-json")];
      const fields = readJSON("catalogue-data", []);
      const blocks = Array.from(new Set(["customer", "orders", "products", "communications"].concat(fields.map((f) => f.block))));
      this.suggester = new Suggester(fields, readJSON("suggestions-data", {}), blocks);
      this.items = [];
      this.active = 0;
      this.error = null;
      this.timer = null;
      this.text.readOnly = this.readonly;
      root.querySelectorAll(".mode-btn").forEach((b) => b.addEventListener("click", () => this.switchTo(b.dataset.mode)));
      this.text.addEventListener("input", () => { this.error = null; this.paint(); this.schedule(); this.complete(false); });
      this.text.addEventListener("keydown", (e) => this.keydown(e));
      this.text.addEventListener("scroll", () => { this.backdrop.scrollTop = this.text.scrollTop; });
      this.text.addEventListener("blur", () => setTimeout(() => this.close(), 150));
      this.list.addEventListener("mousedown", (e) => {
        const li = e.target.closest("li");
        if (li) { e.preventDefault(); this.accept(Number(li.dataset.index)); }
      });
      root.hidden = false;
      if (this.modeInput.value === "text") { this.show("text"); this.check(); }
    }

    show(mode) {
      this.modeInput.value = mode;
      this.pane.hidden = mode !== "text";
      this.blocks.forEach((node) => { if (node) node.hidden = mode === "text"; });
      this.root.querySelectorAll(".mode-btn").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
      if (mode === "text") this.paint();
    }

    async switchTo(mode) {
      if (mode === this.modeInput.value) return;
      if (mode === "text") {
        let rule;
        try { rule = JSON.parse(this.json.value || '{"match":"all","groups":[]}'); } catch (e) {
          this.status.textContent = "The rule JSON is not valid: fix it under “Rule as JSON” first."; return;
        }
        const res = await postJSON(this.formatUrl, { rule: rule });
        if (!res.ok || !res.body.valid) { this.status.textContent = "The blocks have errors (" + (res.body.message || res.status) + "): fix them first."; return; }
        this.text.value = res.body.text;
        this.status.textContent = "";
        this.error = null;
        this.show("text");
        this.text.focus();
        return;
      }
      if (await this.check()) { this.status.textContent = ""; this.show("blocks"); }
      else this.status.textContent = "Fix the text first: the blocks are built from it.";
    }

    schedule() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.check(), PARSE_DELAY_MS);
    }

    /** Parse the text; on success the block editor (and so preview) gets the rule. */
    async check() {
      const sent = this.text.value;
      const res = await postJSON(this.parseUrl, { text: sent });
      if (sent !== this.text.value) return false; // typed on meanwhile: a newer check follows
      if (res.ok && res.body.valid) {
        this.error = null;
        this.errorBox.hidden = true;
        if (this.json && !this.readonly && this.apply) {
          this.json.value = JSON.stringify(res.body.rule, null, 2);
          this.apply.click();
        }
        this.paint();
        return true;
      }
      const messages = (res.body.errors && (res.body.errors.text || res.body.errors.rule_text)) || [res.body.message || "HTTP " + res.status];
      this.error = res.body.line ? { line: res.body.line, column: res.body.column } : null;
      this.errorBox.textContent = messages.join("\n");
      this.errorBox.hidden = false;
      this.paint();
      return false;
    }

    offsetOf(line, column) {
      const lines = this.text.value.split("\n");
      let offset = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      return Math.min(offset + column - 1, this.text.value.length);
    }

    /** The backdrop: the same text, with the error's token marked (a wavy underline). */
    paint(marker) {
      const text = this.text.value;
      const nodes = [];
      if (marker !== undefined) {
        nodes.push(document.createTextNode(text.slice(0, marker)), Object.assign(document.createElement("span"), { className: "caret-mark", textContent: "\u200b" }),
          document.createTextNode(text.slice(marker)));
      } else if (this.error) {
        const start = this.offsetOf(this.error.line, this.error.column);
        const token = text.slice(start).match(/^("(?:[^"\\\n]|\\.)*"?|[^\s,;()]+|[,;()])/);
        const end = start + (token ? token[0].length : 0);
        const mark = document.createElement("mark");
        mark.textContent = end > start ? text.slice(start, end) : "\u00a0";
        nodes.push(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
      } else {
        nodes.push(document.createTextNode(text));
      }
      nodes.push(document.createTextNode("\n"));
      this.backdrop.replaceChildren(...nodes);
      this.backdrop.scrollTop = this.text.scrollTop;
    }

    // -- completion --------------------------------------------------------------------

    complete(force) {
      if (this.readonly) return;
      const caret = this.text.selectionStart;
      if (caret !== this.text.selectionEnd) return this.close();
      const items = this.suggester.at(this.text.value, caret);
      if (!items.length || (!force && !/[\w\s,]$/.test(this.text.value.slice(0, caret)))) return this.close();
      this.items = items;
      this.active = 0;
      this.list.replaceChildren(...items.map((item, i) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.dataset.index = String(i);
        li.setAttribute("aria-selected", String(i === 0));
        li.append(item.label);
        if (item.hint) { const hint = document.createElement("span"); hint.className = "hint"; hint.textContent = item.hint; li.append(hint); }
        return li;
      }));
      this.place(caret);
      this.list.hidden = false;
    }

    place(caret) {
      this.paint(caret);
      const mark = this.backdrop.querySelector(".caret-mark");
      const top = mark.offsetTop - this.text.scrollTop + 22;
      const left = Math.min(mark.offsetLeft, this.text.clientWidth - 240);
      this.paint();
      this.list.style.top = Math.max(0, top) + "px";
      this.list.style.left = Math.max(0, left) + "px";
    }

    close() { this.list.hidden = true; this.items = []; }

    accept(index) {
      const item = this.items[index];
      if (!item) return;
      const caret = this.text.selectionStart, value = this.text.value;
      this.text.value = value.slice(0, item.from) + item.insert + (item.after || "") + value.slice(caret);
      const at = item.from + item.insert.length;
      this.text.setSelectionRange(at, at);
      this.close();
      this.text.dispatchEvent(new Event("input"));
      this.text.focus();
    }

    keydown(e) {
      if (e.key === " " && e.ctrlKey) { e.preventDefault(); this.complete(true); return; }
      if (this.list.hidden) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.active = (this.active + (e.key === "ArrowDown" ? 1 : this.items.length - 1)) % this.items.length;
        this.list.querySelectorAll("li").forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
        const current = this.list.children[this.active];
        if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
      } else if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        this.accept(this.active);
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.close();
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("rule-mode");
    // After admin.js has built the block editor (its listener runs first: it was added first
    // only if its script came first, so wait one turn to be sure).
    if (root) setTimeout(function () { window.segsearchTextMode = new TextMode(root); }, 0);
  });
})();
