/* Agent console. All customer text is inserted with textContent: never interpreted as HTML. */
(function () {
  "use strict";
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var current = null;
  var $ = function (id) { return document.getElementById(id); };

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({ "Content-Type": "application/json", "X-CSRF-Token": csrf }, options.headers || {});
    return fetch("/api/agent" + path, options).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.detail || r.status); return body; });
    });
  }
  function label(c) {
    var who = c.customer_name || c.customer_id.slice(0, 10);
    return who + " · " + c.channel + " · " + (c.team_id || "") + (c.escalation_reason ? " · " + c.escalation_reason : "");
  }
  function renderList(id, items) {
    var ul = $(id); ul.textContent = "";
    items.forEach(function (c) {
      var li = document.createElement("li"), b = document.createElement("button");
      b.type = "button"; b.textContent = label(c); b.dataset.id = c.id;
      b.addEventListener("click", function () { open(c.id); });
      li.appendChild(b); ul.appendChild(li);
    });
  }
  function refreshLists() {
    api("/queue").then(function (q) { renderList("queue", q); });
    api("/conversations").then(function (m) { renderList("mine", m); });
  }
  function addMessage(m) {
    var div = document.createElement("div");
    div.className = "msg " + m.sender;
    var who = document.createElement("span"); who.className = "who";
    who.textContent = m.sender + (m.data && m.data.article ? " · artigo " + m.data.article : "");
    div.appendChild(who);
    div.appendChild(document.createTextNode(m.text));
    (m.data && m.data.attachments || []).forEach(function (a) {
      var file = document.createElement("span"); file.className = "attachment";
      file.textContent = " 📎 " + a.kind + (a.name ? ": " + a.name : "") + (a.mime ? " (" + a.mime + ")" : "");
      if (/^https:/.test(a.ref)) { var link = document.createElement("a"); link.href = a.ref; link.rel = "noopener"; link.target = "_blank"; link.textContent = file.textContent; file.textContent = ""; file.appendChild(link); }
      div.appendChild(file);
    });
    if (m.id) div.dataset.id = m.id;
    showDelivery(div, m.delivery);
    $("history").appendChild(div);
    $("history").scrollTop = $("history").scrollHeight;
  }
  /* Telegram/WhatsApp: whether the customer got it (failed and not-sent messages say why). */
  function showDelivery(div, d) {
    var old = div.querySelector(".delivery"); if (old) old.remove();
    if (!d || d.status === "sent") return;
    var tag = document.createElement("span"); tag.className = "delivery " + d.status;
    tag.textContent = " · " + d.status + (d.error ? " — " + d.error : "");
    div.querySelector(".who").appendChild(tag);
  }
  function show(detail) {
    var c = detail.conversation; current = c;
    var who = detail.customer;
    $("title").textContent = label(c) + " · " + c.state + (who ? " · " + [who.username ? "@" + who.username : "", who.language,
      who.unreachable_at ? "inalcançável / unreachable: " + who.unreachable_reason : ""].filter(Boolean).join(" · ") : "");
    $("history").textContent = "";
    detail.messages.forEach(addMessage);
    $("claim").hidden = c.state !== "queued";
    var mine = c.state === "human" && c.agent_id === window.BALCAO_USER;
    $("close").hidden = !mine; $("reply").hidden = !mine;
    if (mine) $("text").focus();
  }
  function open(id) { api("/conversations/" + id).then(show).catch(function (e) { $("notice").textContent = e.message; }); }
  $("claim").addEventListener("click", function () {
    api("/conversations/" + current.id + "/claim", { method: "POST" })
      .then(function () { open(current.id); refreshLists(); })
      .catch(function (e) { $("notice").textContent = e.message; refreshLists(); });
  });
  $("close").addEventListener("click", function () {
    api("/conversations/" + current.id + "/close", { method: "POST", body: JSON.stringify({ reason: "resolved" }) })
      .then(function () { open(current.id); refreshLists(); })
      .catch(function (e) { $("notice").textContent = e.message; });
  });
  $("reply").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("text").value; if (!text.trim()) return;
    api("/conversations/" + current.id + "/messages", { method: "POST", body: JSON.stringify({ text: text }) })
      .then(function () { $("text").value = ""; })
      .catch(function (e) { $("notice").textContent = e.message; });
  });
  $("text").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("reply").requestSubmit(); }
  });
  function connect() {
    var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/agent/ws");
    ws.onmessage = function (ev) {
      var e = JSON.parse(ev.data);
      if (e.type === "owner") refreshLists();
      if (current && e.conversation_id === current.id) {
        if (e.type === "message") addMessage({ id: e.message_id, sender: e.sender, text: e.text, data: null });
        else if (e.type === "delivery") {
          var div = $("history").querySelector("[data-id='" + e.message_id + "']");
          if (div) showDelivery(div, { status: e.status, error: e.error });
        }
        else open(current.id);
      }
    };
    ws.onclose = function () { setTimeout(connect, 2000); };
  }
  fetch("/api/me").then(function (r) { return r.json(); }).then(function (me) { window.BALCAO_USER = me.id; refreshLists(); connect(); });
})();
