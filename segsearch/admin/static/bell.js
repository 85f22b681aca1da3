/* segsearch admin: the notification bell in the top bar. It reads the session user's
   notifications from /admin/notifications (the service behind /api/v1/notifications),
   shows the unread count, lists the newest with links to their segments, marks read. */
(function () {
  "use strict";

  const bell = document.getElementById("bell");
  if (!bell) return;
  const button = document.getElementById("bell-btn");
  const menu = document.getElementById("bell-menu");
  const list = document.getElementById("bell-list");
  const count = document.getElementById("bell-count");
  const summary = document.getElementById("bell-summary");
  const csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showCount(unread) {
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
    bell.dataset.unread = String(unread);
    button.title = unread === 0 ? "Notifications: none unread"
      : "Notifications: " + unread + " unread";
    summary.textContent = unread === 0 ? "all read" : unread + " unread";
  }

  function item(n) {
    const li = el("li", "bell-item" + (n.read ? "" : " unread"));
    li.dataset.id = n.id;
    li.dataset.kind = n.kind || "";
    const body = el(n.url ? "a" : "span", "bell-message", n.message);
    if (n.url) body.href = n.url;
    const meta = el("div", "bell-meta");
    meta.append(el("span", "muted small", n.at_text));
    if (!n.read) {
      const mark = el("button", "btn-link bell-read", "Mark read");
      mark.type = "button";
      mark.addEventListener("click", function () { markRead(n.id, li, mark); });
      meta.append(mark);
    }
    li.append(body, meta);
    return li;
  }

  function render(data) {
    list.replaceChildren();
    if (!data.items.length) list.append(el("li", "bell-empty muted", "No notifications yet. You get one when a segment you created is formed."));
    data.items.forEach(function (n) { list.append(item(n)); });
    showCount(data.unread);
  }

  function load() {
    return fetch(bell.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(render)
      .catch(function () { bell.classList.add("bell-unavailable"); });
  }

  function markRead(id, li, mark) {
    mark.disabled = true;
    const url = bell.dataset.readUrl.replace("/ID/", "/" + encodeURIComponent(id) + "/");
    fetch(url, { method: "POST", credentials: "same-origin",
                 headers: { "X-CSRF-Token": csrf, Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (data) {
        li.classList.remove("unread");
        mark.remove();
        showCount(data.unread);
      })
      .catch(function () { mark.disabled = false; });
  }

  function toggle(open) {
    menu.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  }

  button.addEventListener("click", function (event) {
    event.stopPropagation();
    toggle(menu.hidden);
  });
  menu.addEventListener("click", function (event) { event.stopPropagation(); });
  document.addEventListener("click", function () { toggle(false); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !menu.hidden) { toggle(false); button.focus(); }
  });
  load();
})();
