/* segsearch admin: the rule editor, "Preview matched customers", formation progress,
   confirm dialogs. Plain JavaScript, no build step and nothing loaded from elsewhere. */
(function () {
  "use strict";

  // ---------------------------------------------------------------- small helpers

  /** Build an element: props are attributes, except class/text/dataset/on*. */
  function h(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(function ([key, value]) {
      if (value === null || value === undefined || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, value);
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  /** A <select> of [value, label] pairs (or optgroups {label, options}). */
  function select(options, value, onChange, props) {
    const node = h("select", props || {});
    options.forEach(function (opt) {
      if (opt && opt.options) {
        const group = h("optgroup", { label: opt.label });
        opt.options.forEach(function ([v, l]) { group.append(h("option", { value: v }, l)); });
        node.append(group);
      } else {
        node.append(h("option", { value: opt[0] }, opt[1]));
      }
    });
    node.value = value === null || value === undefined ? "" : String(value);
    if (onChange) node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function readJSON(id, fallback) {
    const node = document.getElementById(id);
    if (!node) return fallback;
    try { return JSON.parse(node.textContent); } catch (e) { return fallback; }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function fmtInt(n) {
    if (n === null || n === undefined || isNaN(n)) return "—";
    return new Intl.NumberFormat("en").format(n).replace(/,/g, "\u202f");
  }

  function fmtMoney(n) {
    return new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n).replace(/,/g, "\u202f");
  }

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  /** "" -> null, a number -> the number, anything else kept so the server names it. */
  function parseNumber(text) {
    const t = String(text).trim();
    if (t === "") return null;
    const n = Number(t);
    return Number.isFinite(n) ? n : t;
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  async function getJSON(url) {
    const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await res.json().catch(function () { return {}; });
    if (!res.ok) throw Object.assign(new Error(body.message || res.statusText), { status: res.status, body: body });
    return body;
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

  // ---------------------------------------------------------------- confirm dialogs

  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // ---------------------------------------------------------------- the rule editor

  const BLOCK_LABELS = { customer: "Customer", orders: "Orders", products: "Products", communications: "Communications", segments: "Segments" };
  const OP_LABELS = {
    in: "is one of", between: "between", relative: "relative to today", is: "is",
    exists: "is filled in", missing: "is empty", count: "number of orders", sum: "sum of orders",
  };
  // [key in `where`, label, placeholder, the customer field whose values are suggested]
  const WHERE_LISTS = [
    ["statuses", "Status", "e.g. paid", "order_statuses"], ["stores", "Store", "e.g. online", null],
    ["pipelines", "Pipeline", "pipeline", null], ["product_ids", "Product", "product name or id", "products"],
    ["product_groups", "Product group", "group name (with its subgroups)", "product_groups"],
  ];
  // Personal data gets no list of values (a datalist of e-mails helps nobody).
  const NO_LOOKUP = { first_name: 1, last_name: 1, email: 1, phone: 1 };
  // Fields stored by id whose values are shown by name.
  const NAMED = { products: 1, product_groups: 1 };
  const LOOKUP_DELAY_MS = 200;
  const MAX_PREFIX = 100;
  let listCounter = 0;

  /** retailCRM's day.month ("25.07") or the contract's "07-25" -> "07-25"; else as typed. */
  function monthDayValue(text) {
    const t = String(text).trim();
    const m = /^(\d{1,2})\.(\d{1,2})\.?$/.exec(t);
    if (m) return m[2].padStart(2, "0") + "-" + m[1].padStart(2, "0");
    return t || null;
  }

  /** "07-25" -> "25.07" (how the editor shows an ignore-year day). */
  function monthDayText(value) {
    const m = /^(\d{2})-(\d{2})$/.exec(String(value || ""));
    return m ? m[2] + "." + m[1] : (value || "");
  }

  /** Operand defaults of a freshly chosen operator. */
  function operandDefaults(op) {
    switch (op) {
      case "in": return { include: [], exclude: [] };
      case "between": return { from: null, to: null };
      case "relative": return { from_days: null, to_days: null };
      case "is": return { value: true };
      case "count": return { min: 1, max: null, where: {} };
      case "sum": return { from: null, to: null, where: {} };
      default: return {};
    }
  }

  /** A rule in the editor's shape (every group with match/negate/conditions). */
  function normalise(rule) {
    if (!rule || typeof rule !== "object" || !Array.isArray(rule.groups)) {
      throw new Error("A rule is an object with a list of groups.");
    }
    return {
      match: rule.match === "any" ? "any" : "all",
      groups: rule.groups.map(function (g) {
        g = g && typeof g === "object" ? g : {};
        return {
          block: g.block || "customer", match: g.match === "any" ? "any" : "all",
          negate: g.negate === true,
          conditions: Array.isArray(g.conditions) ? g.conditions.map(function (c) {
            return c && typeof c === "object" ? c : {};
          }) : [],
        };
      }),
    };
  }

  /** Server errors keyed "rule.groups.1.conditions.0.to" -> keyed relative to the rule. */
  function ruleErrors(errors) {
    const out = {};
    Object.entries(errors || {}).forEach(function ([path, messages]) {
      if (path === "rule") out[""] = messages;
      else if (path.indexOf("rule.") === 0) out[path.slice(5)] = messages;
    });
    return out;
  }

  class RuleEditor {
    constructor(root, options) {
      this.root = root;
      this.fields = options.fields;
      this.byCode = {};
      this.fields.forEach((f) => { this.byCode[f.code] = f; });
      this.templates = options.templates || [];
      this.suggestions = options.suggestions || {};
      this.readonly = options.readonly;
      this.textarea = options.textarea;
      this.previewPanel = options.previewPanel;
      this.previewUrl = options.previewUrl;
      this.valuesUrl = options.valuesUrl;
      this.labels = options.labels || {};
      this.sourceOf = options.sourceOf || (() => "rule");
      this.onEdit = options.onEdit || (() => {});
      this.errors = options.errors || {};
      this.groupCounts = null;
      this.datalists = {};
      this.rule = { match: "all", groups: [] };
      this.loadFromText(this.textarea ? this.textarea.value : "", true);
    }

    // -- state ------------------------------------------------------------------

    loadFromText(text, initial) {
      try {
        this.rule = normalise(JSON.parse(text || '{"match":"all","groups":[]}'));
        this.unreadable = false;
      } catch (err) {
        // Keep what the user typed in the JSON box; the editor starts empty beside it.
        this.unreadable = true;
        this.rule = { match: "all", groups: [] };
        if (!initial) throw err;
      }
      this.render();
    }

    /** Write the rule into the form's `rule` field (what the server validates). */
    sync() {
      this.unreadable = false;
      this.onEdit();
      if (this.textarea && !this.readonly) this.textarea.value = JSON.stringify(this.rule, null, 2);
    }

    /** A structural change: indices move, so old errors and group counts no longer apply. */
    changed() {
      this.errors = {};
      this.groupCounts = null;
      this.sync();
      this.render();
    }

    setErrors(errors) {
      this.errors = errors;
      this.render();
      const first = this.root.querySelector(".has-error");
      if (first) first.scrollIntoView({ block: "center", behavior: "smooth" });
    }

    errorsAt(test) {
      return Object.entries(this.errors).filter(([path]) => test(path));
    }

    // -- rendering ----------------------------------------------------------------

    render() {
      this.datalists = {};  // the chips drawn below register theirs again
      const body = h("div", { class: "rule-body" });
      body.append(this.renderHeader());
      const topErrors = this.errorsAt((p) => !/^groups\.\d+/.test(p) ||
        Number(p.split(".")[1]) >= this.rule.groups.length);
      if (topErrors.length) body.append(this.errorList(topErrors, "rule-errors"));
      if (this.unreadable) {
        body.append(h("div", { class: "alert alert-warn" },
          "The rule below could not be read as JSON: fix it in “Rule as JSON” and apply it, or start again here."));
      }
      if (!this.rule.groups.length) {
        body.append(h("div", { class: "rule-empty" }, this.readonly
          ? "No filters: every customer matches."
          : "No filters yet: every customer matches. Add a block of filters below, or start from a template."));
      }
      this.rule.groups.forEach((group, gi) => {
        if (gi > 0) body.append(h("div", { class: "joiner" }, h("span", {}, this.rule.match === "any" ? "OR" : "AND")));
        body.append(this.renderGroup(group, gi));
      });
      if (!this.readonly) body.append(this.renderAddBlock());
      body.append(h("div", { class: "datalists" }, Object.values(this.datalists)));
      this.root.replaceChildren(body);
      this.renderPreviewBar();
    }

    renderHeader() {
      const head = h("div", { class: "rule-head" });
      head.append(h("span", {}, "Customers must match "),
        select([["all", "all"], ["any", "any"]], this.rule.match, (v) => { this.rule.match = v; this.changed(); },
          { disabled: this.readonly, "aria-label": "How blocks combine", class: "inline-select" }),
        h("span", {}, " of the blocks below"));
      if (!this.readonly && this.templates.length) {
        const options = [["", "Start from a template…"]].concat(this.templates.map((t) => [t.code, t.name]));
        head.append(h("span", { class: "spacer" }),
          select(options, "", (code) => this.applyTemplate(code), { class: "template-select", "aria-label": "Start from a template" }));
      }
      return head;
    }

    applyTemplate(code) {
      const template = this.templates.find((t) => t.code === code);
      if (!template) return;
      if (this.rule.groups.length && !window.confirm("Replace the current filters with the template “" + template.name + "”?")) {
        this.render();
        return;
      }
      this.rule = normalise(clone(template.rule));
      // Fill the name, code and description where the user has not typed anything, or where
      // the previous template put its own (switching templates replaces them).
      this.filled = this.filled || {};
      [["f-name", template.name], ["f-description", template.description], ["f-code", template.code]].forEach(([id, value]) => {
        const input = document.getElementById(id);
        if (!input) return;
        if (!input.value.trim() || input.value === this.filled[id]) {
          input.value = value || "";
          this.filled[id] = input.value;
        }
      });
      this.changed();
    }

    renderAddBlock() {
      const bar = h("div", { class: "add-block" }, h("span", { class: "muted" }, "Add a block of filters:"));
      Object.entries(BLOCK_LABELS).forEach(([block, label]) => {
        bar.append(h("button", {
          type: "button", class: "btn btn-small block-btn block-" + block,
          onclick: () => {
            this.rule.groups.push({ block: block, match: "all", negate: false, conditions: [this.newCondition(block)] });
            this.changed();
          },
        }, "+ " + label));
      });
      return bar;
    }

    newCondition(block) {
      const field = this.fields.find((f) => f.block === block);
      if (!field) return { field: "", op: "" };
      return Object.assign({ field: field.code, op: field.operators[0] }, operandDefaults(field.operators[0]));
    }

    renderGroup(group, gi) {
      const path = "groups." + gi;
      const card = h("div", { class: "group block-" + group.block + (group.negate ? " negated" : ""), dataset: { path: path } });
      const count = this.groupCounts ? this.groupCounts[gi] : undefined;
      const head = h("div", { class: "group-head" }, [
        h("span", { class: "group-title" }, BLOCK_LABELS[group.block] || group.block),
        select([["all", "All"], ["any", "Any"]], group.match, (v) => { group.match = v; this.changed(); },
          { disabled: this.readonly, class: "inline-select", "aria-label": "How conditions combine" }),
        h("span", { class: "muted small" }, "of these conditions"),
        h("label", { class: "negate", title: "Customers matching this block are excluded (NOT)" }, [
          h("input", { type: "checkbox", checked: group.negate, disabled: this.readonly,
            onchange: (e) => { group.negate = e.target.checked; this.changed(); } }),
          " Exclude matching (NOT)"]),
        h("span", { class: "spacer" }),
        count === undefined ? null : h("span", { class: "group-count", title: "Customers matching this block on its own" }, fmtInt(count) + " match"),
        this.readonly ? null : h("button", { type: "button", class: "btn btn-small",
          onclick: () => { group.conditions.push(this.newCondition(group.block)); this.changed(); } }, "+ Add criteria"),
        this.readonly ? null : h("button", { type: "button", class: "btn btn-small btn-danger", title: "Delete this block of filters",
          onclick: () => { this.rule.groups.splice(gi, 1); this.changed(); } }, "Delete block"),
      ]);
      card.append(head);
      const own = this.errorsAt((p) => p === path || (p.indexOf(path + ".") === 0 && !/^groups\.\d+\.conditions\.\d+/.test(p)));
      if (own.length) { card.classList.add("has-error"); card.append(this.errorList(own)); }
      const list = h("div", { class: "conditions" });
      group.conditions.forEach((cond, ci) => list.append(this.renderCondition(group, cond, gi, ci)));
      if (!group.conditions.length) list.append(h("div", { class: "muted small pad" }, "A block needs at least one criterion."));
      card.append(list);
      return card;
    }

    fieldOptions(block, current) {
      const mine = this.fields.filter((f) => f.block === block);
      const builtIn = mine.filter((f) => !f.custom).map((f) => [f.code, f.label]);
      const custom = mine.filter((f) => f.custom).map((f) => [f.code, f.label]);
      const options = custom.length ? [{ label: "Standard fields", options: builtIn }, { label: "Custom fields", options: custom }] : builtIn;
      if (current && !mine.some((f) => f.code === current)) options.unshift([current, current + " (unknown here)"]);
      return options;
    }

    renderCondition(group, cond, gi, ci) {
      const path = "groups." + gi + ".conditions." + ci;
      const fdef = this.byCode[cond.field];
      const row = h("div", { class: "cond", dataset: { path: path } });
      const fieldSelect = select(this.fieldOptions(group.block, cond.field), cond.field, (code) => this.changeField(group, ci, code),
        { disabled: this.readonly, class: "field-select", "data-key": "field", "aria-label": "Field" });
      const ops = fdef ? fdef.operators.map((op) => [op, this.opLabel(op, fdef)]) : [[cond.op || "", cond.op || "—"]];
      const opSelect = select(ops, cond.op, (op) => {
        Object.keys(cond).forEach((k) => { if (k !== "field") delete cond[k]; });
        Object.assign(cond, { op: op }, operandDefaults(op));
        this.changed();
      }, { disabled: this.readonly || !fdef, class: "op-select", "data-key": "op", "aria-label": "Operator" });
      const operands = h("div", { class: "operands" }, fdef ? this.operands(cond, fdef) : []);
      const remove = this.readonly ? null : h("button", { type: "button", class: "icon-btn", title: "Remove this criterion", "aria-label": "Remove this criterion",
        onclick: () => { group.conditions.splice(ci, 1); this.changed(); } }, "×");
      row.append(h("div", { class: "cond-main" }, [fieldSelect, opSelect, operands, remove]));
      const errors = this.errorsAt((p) => p === path || p.indexOf(path + ".") === 0);
      if (errors.length) {
        row.classList.add("has-error");
        row.append(this.errorList(errors));
        errors.forEach(([p]) => {
          const key = p.slice(path.length + 1);
          row.querySelectorAll('[data-key="' + key + '"]').forEach((n) => n.classList.add("invalid"));
        });
      }
      if (this.readonly) row.querySelectorAll("input, select, button").forEach((n) => { n.disabled = true; });
      return row;
    }

    opLabel(op, fdef) {
      if (op === "between" && fdef.type === "age") return "between (years)";
      // Segment codes: include = a member of any of them, exclude = a member of none.
      if (op === "in" && fdef.type === "segments") return "is a member of";
      return OP_LABELS[op] || op;
    }

    changeField(group, ci, code) {
      const old = group.conditions[ci];
      const fdef = this.byCode[code];
      const before = this.byCode[old.field];
      // Same type and operator: keep the operands (e.g. city -> country keeps the values).
      if (before && fdef && before.type === fdef.type && fdef.operators.indexOf(old.op) >= 0) {
        old.field = code;
      } else {
        group.conditions[ci] = Object.assign({ field: code, op: fdef.operators[0] }, operandDefaults(fdef.operators[0]));
      }
      this.changed();
    }

    errorList(entries, cls) {
      // The server words the messages; the path only places them (and marks the input).
      return h("ul", { class: "cond-errors " + (cls || "") }, entries.map(([path, messages]) =>
        h("li", { "data-path": path || "rule" }, [].concat(messages).join(" "))));
    }

    // -- operands -------------------------------------------------------------------

    operands(cond, fdef) {
      switch (cond.op) {
        case "in": return [this.chips(cond, ["include", "exclude"], { values: this.valuesFor(fdef), key: "", field: this.lookupField(fdef) })];
        case "between": return this.between(cond, fdef);
        case "relative": return this.relative(cond, fdef);
        case "is": return [select([["true", "Yes"], ["false", "No"]], String(cond.value !== false),
          (v) => { cond.value = v === "true"; this.sync(); }, { "data-key": "value", "aria-label": "Value" })];
        case "count": return this.ordersCount(cond);
        case "sum": return this.ordersSum(cond);
        default: return [];
      }
    }

    valuesFor(fdef) {
      return fdef.values || this.suggestions[fdef.code] || null;
    }

    /** The field whose values are looked up as you type (keyword fields), or null. */
    lookupField(fdef) {
      if (!this.valuesUrl || fdef.values || NO_LOOKUP[fdef.code]) return null;
      return fdef.type === "keyword" || fdef.type === "keywords" ? fdef.code : null;
    }

    labelOf(field, value) {
      const known = field && this.labels[field];
      return known && known[value] ? known[value] : value;
    }

    async lookup(field, prefix) {
      const url = this.valuesUrl.replace("FIELD", encodeURIComponent(field)) +
        "?size=20&prefix=" + encodeURIComponent(prefix.slice(0, MAX_PREFIX));
      const body = await getJSON(url);
      if (NAMED[field]) {
        const known = this.labels[field] = this.labels[field] || {};
        body.items.forEach((item) => { if (item.label) known[item.value] = item.label; });
      }
      return body.items;
    }

    /** An input bound to obj[key]; `parse` turns the text into the JSON value. */
    input(obj, key, dataKey, props, parse, onEmpty) {
      const value = obj[key];
      const node = h("input", Object.assign({ "data-key": dataKey, value: value === null || value === undefined ? "" : value }, props));
      node.addEventListener("input", () => {
        const parsed = parse(node.value);
        if (parsed === null && onEmpty) onEmpty(); else obj[key] = parsed;
        node.classList.remove("invalid");
        this.sync();
      });
      return node;
    }

    number(obj, key, dataKey, placeholder, integer) {
      return this.input(obj, key, dataKey, { type: "number", step: integer ? "1" : "any", placeholder: placeholder, class: "num-input" }, parseNumber);
    }

    day(obj, key, dataKey, placeholder) {
      return this.input(obj, key, dataKey, { type: "date", placeholder: placeholder, class: "date-input" }, (t) => t.trim() || null);
    }

    monthDay(obj, key, dataKey, placeholder) {
      // Shown as day.month (25.07), as in retailCRM; stored as the contract's MM-DD.
      const node = this.input(obj, key, dataKey, { type: "text", placeholder: placeholder, maxlength: "6",
        class: "md-input", title: "day.month (25.07) or month-day (07-25)" }, monthDayValue);
      node.value = monthDayText(obj[key]);
      return node;
    }

    ignoreYear(cond) {
      return h("label", { class: "check small" }, [
        h("input", { type: "checkbox", checked: cond.ignore_year === true, "data-key": "ignore_year",
          onchange: (e) => this.toggleIgnoreYear(cond, e.target.checked) }),
        " Ignore year"]);
    }

    toggleIgnoreYear(cond, on) {
      if (on) cond.ignore_year = true; else delete cond.ignore_year;
      if (cond.op === "between") {
        // YYYY-MM-DD <-> MM-DD: keep the day, take this year when a year comes back.
        const year = new Date().getFullYear();
        ["from", "to"].forEach((k) => {
          const v = cond[k];
          if (typeof v !== "string" || !v) return;
          cond[k] = on ? (v.length === 10 ? v.slice(5) : v) : (v.length === 5 ? year + "-" + v : v);
        });
      }
      this.changed();
    }

    between(cond, fdef) {
      const parts = [];
      if (fdef.type === "date" && cond.ignore_year === true) {
        parts.push(this.monthDay(cond, "from", "from", "DD.MM"), h("span", { class: "sep" }, "–"), this.monthDay(cond, "to", "to", "DD.MM"));
      } else if (fdef.type === "date" || fdef.type === "datetime") {
        parts.push(this.day(cond, "from", "from"), h("span", { class: "sep" }, "–"), this.day(cond, "to", "to"));
      } else {
        const integer = fdef.type === "integer" || fdef.type === "age";
        parts.push(this.number(cond, "from", "from", "from", integer), h("span", { class: "sep" }, "–"),
          this.number(cond, "to", "to", "to", integer));
        if (fdef.type === "age") parts.push(h("span", { class: "muted small" }, "years"));
      }
      if (fdef.type === "date") parts.push(this.ignoreYear(cond));
      return parts;
    }

    relative(cond, fdef) {
      const parts = [
        h("span", { class: "muted small" }, "from"), this.number(cond, "from_days", "from_days", "−∞", true),
        h("span", { class: "muted small" }, "to"), this.number(cond, "to_days", "to_days", "+∞", true),
        h("span", { class: "muted small", title: "Days from the day of the recalculation; negative = in the past, empty = open end" }, "days from today"),
      ];
      if (fdef.type === "date") parts.push(this.ignoreYear(cond));
      return parts;
    }

    ordersCount(cond) {
      return [h("span", { class: "muted small" }, "min"), this.number(cond, "min", "min", "0", true),
        h("span", { class: "muted small" }, "max"), this.number(cond, "max", "max", "∞", true),
        this.where(cond)];
    }

    ordersSum(cond) {
      return [h("span", { class: "muted small" }, "from"), this.number(cond, "from", "from", "0"),
        h("span", { class: "muted small" }, "to"), this.number(cond, "to", "to", "∞"),
        this.where(cond)];
    }

    /** The `where` sub-form: which orders are counted or summed. */
    where(cond) {
      if (!cond.where || typeof cond.where !== "object") cond.where = {};
      const where = cond.where;
      const set = Object.keys(where).length;
      const hasError = Object.keys(this.errors).some((p) => p.indexOf(".where") > 0);
      const details = h("details", { class: "where", open: set > 0 || hasError });
      details.append(h("summary", {}, "Only orders where…" + (set ? " (" + set + " set)" : "")));
      const grid = h("div", { class: "where-grid" });
      WHERE_LISTS.forEach(([key, label, placeholder, field], i) => {
        const chips = this.chips(where, [key], { values: this.suggestions[field || key] || null, key: "where.", dropEmpty: true,
          placeholder: placeholder, field: field && this.valuesUrl ? field : null });
        if (i === WHERE_LISTS.length - 1) chips.classList.add("wide"); // an odd one out fills its row
        grid.append(h("span", { class: "where-label" }, label), chips);
      });
      const created = this.whereCreated(where);
      const total = this.whereTotal(where);
      created.classList.add("wide");
      total.classList.add("wide");
      grid.append(h("span", { class: "where-label" }, "Created"), created);
      grid.append(h("span", { class: "where-label" }, "Order total"), total);
      details.append(grid);
      return details;
    }

    whereCreated(where) {
      const box = h("div", { class: "where-row" });
      const created = where.created;
      box.append(select([["", "any date"], ["between", "between dates"], ["relative", "relative to today"]],
        created ? created.op : "", (op) => {
          if (!op) delete where.created; else where.created = Object.assign({ op: op }, operandDefaults(op));
          this.changed();
        }, { "data-key": "where.created.op", "aria-label": "Order date" }));
      if (created && created.op === "between") {
        box.append(this.day(created, "from", "where.created.from"), h("span", { class: "sep" }, "–"), this.day(created, "to", "where.created.to"));
      } else if (created && created.op === "relative") {
        box.append(this.number(created, "from_days", "where.created.from_days", "−∞", true), h("span", { class: "sep" }, "…"),
          this.number(created, "to_days", "where.created.to_days", "+∞", true), h("span", { class: "muted small" }, "days from today"));
      }
      return box;
    }

    whereTotal(where) {
      // A holder keeps what is typed; `total` exists in the rule only while an end is set.
      const holder = Object.assign({ from: null, to: null }, where.total || {});
      const update = () => {
        if (holder.from === null && holder.to === null) delete where.total;
        else where.total = { from: holder.from, to: holder.to };
      };
      const make = (key) => {
        const node = this.number(holder, key, "where.total." + key, key === "from" ? "0" : "∞");
        node.addEventListener("input", () => { update(); this.sync(); });
        return node;
      };
      return h("div", { class: "where-row" }, [make("from"), h("span", { class: "sep" }, "–"), make("to")]);
    }

    /** Values as chips: include (green tick) / exclude (red cross) when `keys` has both.
        opts.field: the customer field whose values are suggested as you type and checked
        once added ("No customer has …. Did you mean …?"). */
    chips(target, keys, opts) {
      const modes = keys.length === 2;
      const field = opts.field || null;
      let mode = keys[0];
      keys.forEach((k) => { if (!Array.isArray(target[k]) && !opts.dropEmpty) target[k] = []; });
      const box = h("div", { class: "chips", "data-key": opts.key + keys[0] });
      const list = h("span", { class: "chip-list" });
      const listId = opts.values || field ? this.datalist((opts.values || []).map((v) => [v, this.labelOf(field, v)])) : null;
      const input = h("input", { type: "text", class: "chip-input", list: listId, autocomplete: "off",
        placeholder: opts.placeholder || (modes ? "type a value, Enter" : "value, Enter"), "aria-label": "Add a value" });
      const hints = h("div", { class: "value-hints", "aria-live": "polite" });
      const problems = {};  // value -> hint node
      const values = (k) => (Array.isArray(target[k]) ? target[k] : []);
      const store = (k, arr) => {
        if (!arr.length && opts.dropEmpty) delete target[k]; else target[k] = arr;
      };
      const drawHints = () => {
        Object.keys(problems).forEach((v) => { if (!keys.some((k) => values(k).indexOf(v) >= 0)) delete problems[v]; });
        hints.replaceChildren(...Object.values(problems));
      };
      const draw = () => {
        list.replaceChildren();
        keys.forEach((k) => values(k).forEach((value) => {
          const chip = h("span", { class: "chip chip-" + (modes ? k : "plain"), "data-key": opts.key + k, "data-value": value,
            title: this.labelOf(field, value) !== value ? value : null });
          if (modes) {
            chip.append(h("button", { type: "button", class: "chip-mode", disabled: this.readonly,
              title: k === "include" ? "Included: click to exclude" : "Excluded: click to include",
              "aria-label": (k === "include" ? "included " : "excluded ") + value,
              onclick: () => move(value, k, k === "include" ? "exclude" : "include") }, k === "include" ? "✓" : "✕"));
          }
          chip.append(h("span", { class: "chip-text" }, this.labelOf(field, value)));
          if (!this.readonly) {
            chip.append(h("button", { type: "button", class: "chip-remove", title: "Remove", "aria-label": "Remove " + value,
              onclick: () => { store(k, values(k).filter((v) => v !== value)); draw(); this.sync(); } }, "×"));
          }
          list.append(chip);
        }));
        drawHints();
      };
      const move = (value, from, to) => {
        store(from, values(from).filter((v) => v !== value));
        store(to, values(to).concat([value]));
        draw();
        this.sync();
      };
      const replace = (value, by) => {
        keys.forEach((k) => {
          if (values(k).indexOf(value) < 0) return;
          store(k, values(k).map((v) => (v === value ? by : v)).filter((v, i, all) => all.indexOf(v) === i));
        });
        delete problems[value];
        draw();
        this.sync();
      };
      // A name typed for a product or group: the id it names, if the editor knows it.
      const idOf = (value) => {
        const known = (field && NAMED[field] && this.labels[field]) || {};
        if (known[value]) return value;
        const low = value.toLowerCase();
        const found = Object.keys(known).find((id) => known[id].toLowerCase() === low ||
          known[id].toLowerCase().split(" › ").pop() === low);
        return found || value;
      };
      const check = async (value) => {
        if (!field || value.length > MAX_PREFIX) return;
        let items;
        try { items = await this.lookup(field, value); } catch (err) { return; }  // suggestions only
        if (NAMED[field]) {
          const low = value.toLowerCase();
          const named = items.find((i) => i.value === value) ||
            items.find((i) => (i.label || "").toLowerCase() === low || (i.label || "").toLowerCase().split(" › ").pop() === low);
          if (named && named.value !== value) { replace(value, named.value); return; }
        }
        if (items.some((i) => i.value === value && i.count > 0)) return;
        const low = value.toLowerCase();
        const close = items.find((i) => i.value !== value && i.value.toLowerCase() === low) ||
          items.find((i) => i.value !== value && i.count > 0);
        const shown = (v) => this.labelOf(field, v);
        const hint = h("div", { class: "value-hint", "data-value": value },
          ["No customer has “" + shown(value) + "”."]);
        if (close && !this.readonly) {
          hint.append(" Did you mean ", h("button", { type: "button", class: "btn-link did-you-mean",
            onclick: () => replace(value, close.value) }, "“" + shown(close.value) + "”"), "?");
        }
        problems[value] = hint;
        drawHints();
      };
      const add = () => {
        const added = [];
        input.value.split(/[,\n]/).map((v) => v.trim()).filter(Boolean).map(idOf).forEach((value) => {
          keys.forEach((k) => { if (k !== mode) store(k, values(k).filter((v) => v !== value)); });
          if (values(mode).indexOf(value) < 0) { store(mode, values(mode).concat([value])); added.push(value); }
        });
        input.value = "";
        box.classList.remove("invalid");
        draw();
        this.sync();
        added.forEach(check);
      };
      let timer = null;
      let asked = null;
      const suggest = () => {
        const prefix = input.value.trim();
        if (!field || prefix === asked) return;
        asked = prefix;
        clearTimeout(timer);
        timer = setTimeout(async () => {
          let items;
          try { items = await this.lookup(field, prefix); } catch (err) { return; }
          if (asked !== prefix) return;  // a newer keystroke asked since
          this.fillDatalist(listId, items.map((i) => [i.value,
            (i.label ? i.label + " · " : "") + fmtInt(i.count) + " customer" + (i.count === 1 ? "" : "s")]));
        }, LOOKUP_DELAY_MS);
      };
      input.addEventListener("input", suggest);
      input.addEventListener("focus", suggest);
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === ",") { e.preventDefault(); add(); }
        else if (e.key === "Backspace" && !input.value) {
          const last = keys.slice().reverse().find((k) => values(k).length);
          if (last) { store(last, values(last).slice(0, -1)); draw(); this.sync(); }
        }
      });
      // A value typed but not confirmed with Enter still counts (no silent loss on save).
      input.addEventListener("change", () => { if (input.value.trim()) add(); });
      box.append(list, input);
      if (modes) {
        const toggle = h("span", { class: "mode-toggle", role: "group", "aria-label": "Add as" });
        const buttons = keys.map((k) => h("button", { type: "button", class: "mode mode-" + k, "aria-pressed": String(k === mode),
          title: k === "include" ? "New values are included" : "New values are excluded",
          onclick: () => {
            mode = k;
            buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(keys[i] === mode)));
            input.focus();
          } }, k === "include" ? "✓ include" : "✕ exclude"));
        toggle.append(...buttons);
        box.append(toggle);
      }
      box.append(hints);
      box.addEventListener("click", (e) => { if (e.target === box || e.target === list) input.focus(); });
      draw();
      return box;
    }

    /** A datalist of [value, label] pairs (a label only where it differs: names of ids). */
    datalist(pairs) {
      const id = "dl-" + (++listCounter);
      this.datalists[id] = h("datalist", { id: id });
      this.fillDatalist(id, pairs);
      return id;
    }

    fillDatalist(id, pairs) {
      const node = this.datalists[id] || document.getElementById(id);
      if (node) {
        node.replaceChildren(...pairs.map(([value, label]) => h("option", { value: value, label: label && label !== value ? label : null })));
      }
    }

    // -- preview ---------------------------------------------------------------------

    renderPreviewBar() {
      if (!this.previewPanel || this.previewPanel.dataset.ready) return;
      this.previewPanel.dataset.ready = "1";
      this.previewResult = h("div", { class: "preview-result", "aria-live": "polite" });
      this.previewButton = h("button", { type: "button", class: "btn btn-accent", onclick: () => this.preview() }, "Preview matched customers");
      this.previewPanel.append(h("div", { class: "preview-bar" }, [this.previewButton,
        h("span", { class: "muted small" }, "Counts the customers these filters match right now, without saving.")]), this.previewResult);
    }

    async preview() {
      const storeInput = document.getElementById("f-store");
      const store = storeInput && storeInput.value.trim() ? storeInput.value.trim() : null;
      // A static segment from an imported list is formed from the list, not from the
      // (hidden, empty) filters: preview the list.
      const list = this.sourceOf() === "list" ? document.querySelector('textarea[name="members_text"]') : null;
      this.previewButton.disabled = true;
      this.previewResult.replaceChildren(h("div", { class: "muted" }, "Counting…"));
      try {
        const res = await postJSON(this.previewUrl, list ? { members_text: list.value, store: store } : { rule: this.rule, store: store });
        if (list) {
          if (!res.ok) throw new Error(res.body.message || ("HTTP " + res.status));
          this.showPreview(res.body);
          return;
        }
        if (res.status === 422) {
          this.groupCounts = null;
          this.setErrors(ruleErrors(res.body.errors));
          this.previewResult.replaceChildren(h("div", { class: "alert alert-error" }, "The filters have errors: see the highlighted criteria."));
          return;
        }
        if (!res.ok) throw new Error(res.body.message || ("HTTP " + res.status));
        this.errors = {};
        this.groupCounts = res.body.groups.map((g) => g.count);
        this.render();
        this.showPreview(res.body);
      } catch (err) {
        this.previewResult.replaceChildren(h("div", { class: "alert alert-error" }, "Preview failed: " + err.message));
      } finally {
        this.previewButton.disabled = false;
      }
    }

    showPreview(result) {
      const head = h("div", { class: "preview-count" }, [h("strong", {}, fmtInt(result.count)),
        " customer" + (result.count === 1 ? "" : "s") + " match" + (result.listed === undefined ? ""
          : " the " + fmtInt(result.listed) + " entr" + (result.listed === 1 ? "y" : "ies") + " of the list"),
        h("span", { class: "muted small" }, " · " + Math.round(result.took_ms) + " ms")]);
      const nodes = [head];
      if (result.sample.length) {
        const cols = [["id", "ID"], ["name", "Name"], ["email", "E-mail"], ["city", "City"], ["store", "Store"],
          ["orders_count", "Orders"], ["total_spent", "Spent"], ["segments", "Segments"]];
        const value = (c, key) => {
          if (key === "name") return [c.first_name, c.last_name].filter(Boolean).join(" ") || "—";
          if (key === "segments") return (c.segments || []).join(", ");
          if (key === "orders_count") return fmtInt(c[key] || 0);
          if (key === "total_spent") return fmtMoney(c[key] || 0);
          return c[key] === undefined || c[key] === null || c[key] === "" ? "—" : c[key];
        };
        nodes.push(h("table", { class: "grid sample" }, [
          h("thead", {}, h("tr", {}, cols.map(([k, l]) => h("th", { class: k === "orders_count" || k === "total_spent" ? "num" : "" }, l)))),
          h("tbody", {}, result.sample.map((c) => h("tr", {}, cols.map(([k]) =>
            h("td", { class: k === "orders_count" || k === "total_spent" ? "num" : "" }, String(value(c, k))))))),
        ]));
        if (result.count > result.sample.length) nodes.push(h("div", { class: "muted small" }, "First " + result.sample.length + " by id."));
      }
      this.previewResult.replaceChildren(...nodes);
    }
  }

  function initRuleEditor() {
    const root = document.getElementById("rule-editor");
    if (!root) return;
    const textarea = document.getElementById("rule-json");
    const form = document.getElementById("segment-form");
    // A locked static segment formed from a list has no filters: nothing to preview (its
    // customers are counted in the status card above).
    let panel = null;
    if (root.dataset.listLocked !== "true") {
      panel = h("div", { class: "card preview-card", id: "preview-panel" });
      // Outside the form's fieldset: a read-only (disabled) form can still be previewed.
      form.insertBefore(panel, form.querySelector(".form-actions"));
    }
    const editor = new RuleEditor(root, {
      fields: readJSON("catalogue-data", []), templates: readJSON("templates-data", []),
      suggestions: readJSON("suggestions-data", {}), errors: ruleErrors(readJSON("rule-errors-data", {})),
      readonly: root.dataset.readonly === "true", textarea: textarea, previewPanel: panel,
      previewUrl: root.dataset.previewUrl, valuesUrl: root.dataset.valuesUrl, labels: readJSON("labels-data", {}),
      sourceOf: () => {
        const type = form.querySelector('input[name="type"]:checked');
        const source = form.querySelector('input[name="static_source"]:checked');
        return type && type.value === "static" && source && source.value === "list" ? "list" : "rule";
      },
      onEdit: markDirty,
    });
    const apply = document.getElementById("apply-json");
    const status = document.getElementById("json-status");
    if (apply) {
      apply.addEventListener("click", () => {
        try {
          editor.loadFromText(textarea.value, false);
          editor.errors = {};
          editor.render();
          status.textContent = "Applied.";
        } catch (err) {
          status.textContent = "Not a valid rule: " + err.message;
        }
      });
    }
    const summaryErrors = document.getElementById("confirm-all") || document.getElementById("error-summary");
    if (summaryErrors) summaryErrors.scrollIntoView({ block: "start" });
  }

  // ---------------------------------------------------------------- the form: Enter, unsaved changes

  let dirty = false;
  function markDirty() { dirty = true; }

  function initFormGuards() {
    const form = document.getElementById("segment-form");
    if (!form) return;
    // Enter in a text field must not submit the whole form (and create the segment):
    // only a click on (or Enter on) a submit button does.
    form.addEventListener("keydown", (e) => {
      const t = e.target;
      if (e.key !== "Enter" || e.isComposing || !t || t.tagName !== "INPUT") return;
      if (t.type === "submit" || t.type === "button" || t.type === "checkbox" || t.type === "radio") return;
      e.preventDefault();
    });
    // A page shown again after a refused save holds unsaved input from the start.
    dirty = Boolean(document.getElementById("error-summary") || document.getElementById("confirm-all"));
    form.addEventListener("input", markDirty);
    form.addEventListener("change", markDirty);
    form.addEventListener("submit", (e) => {
      // A cancelled confirm dialog (data-confirm) keeps the page and its changes.
      if (!e.defaultPrevented) dirty = false;
    });
    window.addEventListener("beforeunload", (e) => {
      if (!dirty) return;
      e.preventDefault();
      e.returnValue = "";  // older browsers need a value to show their "Leave site?" dialog
    });
  }

  // ---------------------------------------------------------------- type / static source

  function initTypeSwitch() {
    const form = document.getElementById("segment-form");
    if (!form) return;
    const source = document.getElementById("static-source");
    const members = document.getElementById("members-field");
    const ruleSection = document.getElementById("rule-section");
    const hint = document.getElementById("type-hint");
    const update = () => {
      const type = form.querySelector('input[name="type"]:checked');
      const isStatic = type && type.value === "static";
      if (hint) hint.textContent = isStatic ? "Formed once at creation, then locked." : "Re-formed in the background every few hours on all customers.";
      if (!source) return;
      source.hidden = !isStatic;
      const list = form.querySelector('input[name="static_source"]:checked');
      const fromList = isStatic && list && list.value === "list";
      members.hidden = !fromList;
      ruleSection.hidden = fromList;
    };
    form.addEventListener("change", (e) => { if (e.target.name === "type" || e.target.name === "static_source") update(); });
    update();
  }

  // ---------------------------------------------------------------- formation progress

  function initFormation() {
    const panel = document.getElementById("formation");
    if (!panel) return;
    const wrap = panel.querySelector(".progress-wrap");
    const bar = panel.querySelector(".progress-bar");
    const text = panel.querySelector(".progress-text");
    const since = panel.dataset.since;
    const statusUrl = panel.dataset.statusUrl + (since ? "?since=" + encodeURIComponent(since) : "");

    const show = (fraction, label, state) => {
      wrap.hidden = false;
      wrap.className = "progress-wrap" + (fraction === null ? " indeterminate" : "") + (state ? " " + state : "");
      bar.style.width = fraction === null ? "" : Math.round(fraction * 100) + "%";
      text.textContent = label;
    };
    const setField = (name, value) => panel.querySelectorAll('[data-field="' + name + '"]').forEach((n) => { n.textContent = value; });
    const refresh = async () => {
      const s = await getJSON(statusUrl);
      setField("customers_count", s.customers_count_text);
      setField("last_formed_at", s.last_formed_at_text);
      if (s.next_run_at_text !== "—") setField("next_run_at", s.next_run_at_text);
      document.querySelectorAll('.badge[data-field="status"]').forEach((b) => { b.textContent = s.status; b.className = "badge status-" + s.status; });
      return s;
    };
    const reloadLink = () => h("a", { href: window.location.pathname }, "reload for the dynamics graph");
    const doneText = (count) => { text.replaceChildren("Formed: " + count + " customers · ", reloadLink()); };

    async function pollJob(url) {
      for (let i = 0; i < 3600; i++) {
        let job;
        try { job = await getJSON(url); } catch (err) {
          show(0, err.status === 404 ? "The job is gone (finished long ago?)." : "Could not read the job: " + err.message, "failed");
          return;
        }
        if (job.status === "finished") {
          show(1, "Formed.", "done");
          const s = await refresh();
          doneText(s.customers_count_text);
          if (window.history.replaceState) window.history.replaceState(null, "", window.location.pathname);
          return;
        }
        if (job.status === "failed") { show(job.progress || 0, "The formation failed; it is retried automatically.", "failed"); return; }
        show(job.status === "queued" ? 0 : job.progress,
          job.status === "queued" ? "Queued: waiting for a worker…" : "Forming… " + Math.round(job.progress * 100) + "%");
        await sleep(i < 60 ? 1000 : 3000);
      }
    }

    async function pollStatus() {
      for (let i = 0; i < 900; i++) {
        let s;
        try { s = await refresh(); } catch (err) { show(null, "Could not read the status: " + err.message, "failed"); return; }
        if (s.formed_since) {
          if (s.status === "failed") { show(0, "The formation failed: " + (s.last_error || "see the worker log"), "failed"); return; }
          show(1, "", "done");
          doneText(s.customers_count_text);
          return;
        }
        show(null, s.status === "forming" ? "Forming…" : "Queued: waiting for a worker to form the segment…");
        await sleep(i < 60 ? 1000 : 3000);
      }
    }

    if (panel.dataset.jobUrl) pollJob(panel.dataset.jobUrl);
    else if (since || panel.dataset.status === "pending" || panel.dataset.status === "forming") pollStatus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    initFormGuards();
    initRuleEditor();
    initTypeSwitch();
    initFormation();
  });
})();
