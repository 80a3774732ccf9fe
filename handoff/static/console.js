/* Agent console. Everything a customer wrote is inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var body = document.body;
  var me = { id: Number(body.dataset.userId), name: body.dataset.userName, role: body.dataset.role };
  var T = JSON.parse(document.getElementById("texts").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var $ = function (id) { return document.getElementById(id); };
  var current = null, canned = {}, unread = {}, knownQueue = null, typingTimer = null, lastTypingSent = 0, socket = null;
  /* Messages of the open chat that came over the socket: a refresh answered with a snapshot taken
     before they were stored (the claim's own refresh, on a slow network) must not wipe them. */
  var live = { id: null, messages: [] };

  /* A request that failed without an answer (the server or the load balancer closed an idle
   * connection just as it was reused) is sent once more when repeating it changes nothing. */
  var IDEMPOTENT = { GET: 1, HEAD: 1, PUT: 1, DELETE: 1, OPTIONS: 1 };
  function sendOnce(url, options) {
    return fetch(url, options).catch(function (e) {
      if (!IDEMPOTENT[(options.method || "GET").toUpperCase()]) throw e;
      return fetch(url, options);
    });
  }
  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({ "Content-Type": "application/json", "X-CSRF-Token": csrf }, options.headers || {});
    return sendOnce("/api/agent" + path, options).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : "HTTP " + r.status);
        return data;
      });
    });
  }
  function notice(text) { $("notice").textContent = text || ""; }
  function minutesSince(iso) { return iso ? Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000)) : 0; }
  function word(prefix, code) { return code ? (T[prefix + code] || code) : ""; }
  function fill(text, values) { return text.replace(/\{(\w+)\}/g, function (all, k) { return k in values ? values[k] : all; }); }
  /* Names the page already has: teams and agents (the transfer form's options). */
  function namesOf(select) {
    var names = {};
    Array.prototype.forEach.call($(select).options, function (o) { if (o.value) names[o.value] = o.textContent; });
    return names;
  }
  var teamNames = namesOf("transfer-team"), agentNames = namesOf("transfer-agent");
  /* A customer is their name, else "Visitante 1234": a number that stays the same for the same
     customer (their id is an internal key an agent has no use for). */
  function customerName(name, channel, customerId) {
    if (name) return name;
    var h = 0, key = channel + ":" + customerId;
    for (var i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
    return fill(T.visitor, { n: 1000 + (h % 9000) });
  }
  function who(c) { return customerName(c.customer_name, c.channel, c.customer_id); }
  function teamName(id) { return id ? (teamNames[id] || id) : T.no_team; }
  function about(c) {
    return [word("channel_", c.channel), teamName(c.team_id), word("reason_", c.escalation_reason)].filter(Boolean).join(" · ");
  }
  function label(c) { return who(c) + " · " + about(c); }
  function conversationButton(c, extra) {
    var b = document.createElement("button"); b.type = "button"; b.dataset.id = c.id; b.className = "prio-" + c.priority;
    var name = document.createElement("span"); name.className = "conv-name"; name.textContent = who(c);
    var meta = document.createElement("span"); meta.className = "conv-meta"; meta.textContent = [about(c), extra].filter(Boolean).join(" · ");
    b.appendChild(name); b.appendChild(meta);
    b.addEventListener("click", function () { open(c.id, true); });
    return b;
  }

  /* A short beep and a browser notification: agents must never miss a waiting customer. */
  function alertAgent(title, text) {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); osc.frequency.value = 880; osc.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio available */ }
    if (window.Notification && Notification.permission === "granted" && document.hidden) new Notification(title, { body: text });
  }
  document.addEventListener("click", function () {
    if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  }, { once: true });

  function renderList(id, items, isQueue) {
    var ul = $(id); ul.textContent = "";
    items.forEach(function (c) {
      var li = document.createElement("li");
      var b = conversationButton(c, isQueue ? fill(T.waiting, { n: minutesSince(c.queued_at) }) : "");
      if (!isQueue && unread[c.id]) {
        var badge = document.createElement("span"); badge.className = "badge"; badge.textContent = unread[c.id];
        badge.setAttribute("aria-label", fill(T.unread, { n: unread[c.id] })); b.firstChild.appendChild(document.createTextNode(" ")); b.firstChild.appendChild(badge);
      }
      if (current && current.id === c.id) b.setAttribute("aria-current", "true");
      li.appendChild(b); ul.appendChild(li);
    });
  }
  function refreshLists() {
    api("/queue").then(function (q) {
      if (knownQueue !== null && q.some(function (c) { return knownQueue.indexOf(c.id) < 0; })) alertAgent(T.new_chat, label(q[q.length - 1]));
      knownQueue = q.map(function (c) { return c.id; });
      $("queue-count").textContent = q.length;
      renderList("queue", q, true);
    });
    api("/conversations").then(function (m) { renderList("mine", m, false); });
    if ($("overview")) api("/overview").then(renderOverview);
  }
  function renderOverview(teams) {
    var box = $("overview"); box.textContent = "";
    teams.forEach(function (t) {
      var div = document.createElement("div"); div.className = "team";
      var head = document.createElement("strong");
      head.textContent = t.name + " · " + (t.open_now ? T.open : T.closed) + " · " + T.queue + ": " + t.queue.length;
      div.appendChild(head);
      var ul = document.createElement("ul");
      t.agents.forEach(function (a) {
        var li = document.createElement("li"); li.className = "meta";
        li.textContent = a.name + " — " + (T[a.status] || a.status) + " · " + a.open_chats + "/" + a.capacity + " " + T.chats;
        ul.appendChild(li);
      });
      div.appendChild(ul);
      t.queue.forEach(function (c) { div.appendChild(conversationButton(c, "")); });
      box.appendChild(div);
    });
  }
  function addMessage(m) {
    if (m.id && $("history").querySelector("[data-id='" + m.id + "']")) return; /* already shown */
    var div = document.createElement("div");
    div.className = "msg " + (m.internal ? "note" : m.sender);
    var who = document.createElement("span"); who.className = "who";
    var parts = [m.internal ? T.note_label : m.sender === "agent" && agentNames[m.agent_id] ? agentNames[m.agent_id] : word("sender_", m.sender)];
    if (m.data && m.data.article) parts.push(T.article + " " + m.data.article + (m.data.score ? " (" + m.data.score + ")" : ""));
    who.textContent = parts.join(" · ");
    div.appendChild(who);
    div.appendChild(document.createTextNode(m.text));
    (m.data && m.data.attachments || []).forEach(function (a) { div.appendChild(attachment(a)); });
    if (m.id) div.dataset.id = m.id;
    if (m.id && m.sender === "agent" && !m.internal) div.appendChild(articleButton(m.id));
    showDelivery(div, m.delivery);
    $("history").appendChild(div);
    $("history").scrollTop = $("history").scrollHeight;
  }
  /* A file or location in a message. Only the hub's signed links (http/https) become links or
     images; files are never rendered as HTML (the media route serves them with nosniff). */
  function attachment(a) {
    var box = document.createElement("div"); box.className = "attachment";
    if (a.kind === "unavailable") { box.textContent = a.note || ""; return box; }
    if (a.kind === "location") {
      var lat = Number(a.latitude), lon = Number(a.longitude);
      box.textContent = "📍 " + T.location + ": " + lat.toFixed(5) + ", " + lon.toFixed(5) + " · ";
      var map = document.createElement("a"); map.rel = "noopener noreferrer"; map.target = "_blank";
      map.href = "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=17/" + lat + "/" + lon;
      map.textContent = T.open_map; box.appendChild(map);
      return box;
    }
    var label = "📎 " + word("kind_", a.kind) + (a.name ? ": " + a.name : "");
    if (!/^https?:\/\//.test(a.ref || "")) { box.textContent = label; return box; }
    var link = document.createElement("a"); link.href = a.ref; link.rel = "noopener"; link.target = "_blank";
    if (a.kind === "image") {
      var img = document.createElement("img"); img.src = a.ref; img.alt = label; img.className = "attachment-image";
      link.appendChild(img);
    } else {
      link.textContent = label; link.setAttribute("download", a.name || "");
    }
    if (a.kind === "audio") { /* a voice note: played here, and the download link kept beside it */
      var player = document.createElement("audio");
      player.controls = true; player.preload = "metadata"; player.src = a.ref; player.setAttribute("aria-label", label);
      box.appendChild(player);
    }
    box.appendChild(link);
    return box;
  }
  /* An agent's good answer becomes a draft article (question: the customer's message before it). */
  function articleButton(messageId) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "to-article"; b.textContent = T.to_article; b.title = T.to_article_hint;
    b.addEventListener("click", function () {
      fetch("/api/kb/suggestions/from-message", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ conversation_id: current.id, message_id: Number(messageId) })
      }).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : "HTTP " + r.status);
          b.disabled = true;
          notice(T.article_suggested.replace("{id}", data.id));
        });
      }).catch(function (e) { notice(e.message); });
    });
    return b;
  }
  function renderProfile(p) {
    var dl = $("profile-facts"); dl.textContent = "";
    [[T.name, customerName(p.name, p.channel, p.customer_id)], [T.channel, word("channel_", p.channel)],
      [T.language, T["lang_" + p.language] || p.language]].forEach(function (row) {
      var dt = document.createElement("dt"); dt.textContent = row[0];
      var dd = document.createElement("dd"); dd.textContent = row[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    var ul = $("profile-history"); ul.textContent = "";
    p.conversations.forEach(function (c) {
      var li = document.createElement("li"); li.className = "meta";
      li.textContent = new Date(c.created_at).toLocaleString(document.documentElement.lang) + " · " + word("state_", c.state) +
        (c.team_id ? " · " + teamName(c.team_id) : "") + (c.nps !== null ? " · NPS " + c.nps : "");
      ul.appendChild(li);
    });
  }
  /* Who the customer is: the identity the shop's site verified (name, e-mail, phone, its id), the
     records of other channels linked with them, and their conversations on every channel. */
  function fact(dl, term, value) {
    if (!value) return;
    var dt = document.createElement("dt"); dt.textContent = term; dt.className = "identity";
    var dd = document.createElement("dd"); dd.textContent = value; dd.className = "identity";
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function recordLabel(r) {
    return [customerName(r.name, r.channel, r.customer_id), word("channel_", r.channel),
      r.username ? "@" + r.username : "", r.phone || r.address || "", r.email || ""].filter(Boolean).join(" · ");
  }
  function renderCard(card, conversationId) {
    if (!current || current.id !== conversationId) return; /* the agent opened another chat meanwhile */
    var own = card.records[0], dl = $("profile-facts");
    dl.querySelectorAll(".identity").forEach(function (el) { el.remove(); }); /* drawn by an earlier answer */
    $("verified").hidden = !(own && own.verified_at);
    if (own) { fact(dl, T.email, own.email); fact(dl, T.phone, own.phone); fact(dl, T.shop_id, own.shop_id); }
    var others = card.records.slice(1);
    $("linked").hidden = !others.length;
    var ul = $("linked-records"); ul.textContent = "";
    others.forEach(function (r) { var li = document.createElement("li"); li.textContent = recordLabel(r); ul.appendChild(li); });
    var all = $("everywhere"); all.textContent = "";
    card.conversations.forEach(function (c) {
      var li = document.createElement("li"); li.className = "meta";
      li.textContent = new Date(c.created_at).toLocaleString(document.documentElement.lang) + " · " + word("channel_", c.channel) +
        " · " + word("state_", c.state) + (c.team_id ? " · " + teamName(c.team_id) : "");
      all.appendChild(li);
    });
  }
  function loadCustomer(conversationId) {
    return api("/conversations/" + conversationId + "/customer").then(function (card) { renderCard(card, conversationId); })
      .catch(function (e) { notice(e.message); });
  }
  function searchCustomers(q) {
    var ul = $("link-results");
    api("/customers?q=" + encodeURIComponent(q)).then(function (found) {
      ul.textContent = "";
      var mine = current ? current.channel + ":" + current.customer_id : "";
      found = found.filter(function (r) { return r.channel + ":" + r.customer_id !== mine; });
      if (!found.length) { var none = document.createElement("li"); none.className = "meta"; none.textContent = T.no_customers; ul.appendChild(none); }
      found.forEach(function (r) {
        var li = document.createElement("li"), b = document.createElement("button");
        li.appendChild(document.createTextNode(recordLabel(r) + " "));
        b.type = "button"; b.className = "secondary outline"; b.textContent = T.link;
        b.setAttribute("aria-label", fill(T.link_who, { name: customerName(r.name, r.channel, r.customer_id), channel: word("channel_", r.channel) }));
        b.addEventListener("click", function () { link(r); });
        li.appendChild(b); ul.appendChild(li);
      });
    }).catch(function (e) { notice(e.message); });
  }
  function link(r) {
    if (!current) return;
    var id = current.id;
    api("/conversations/" + id + "/customer/links", { method: "POST", body: JSON.stringify({ channel: r.channel, customer_id: r.customer_id }) })
      .then(function () { $("link-results").textContent = ""; $("link-q").value = ""; return open(id); })
      .then(function () { notice(T.linked); })
      .catch(function (e) { notice(e.message); });
  }
  $("link-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = $("link-q").value.trim(); if (q.length >= 2) searchCustomers(q);
  });
  /* Telegram/WhatsApp: whether the customer got it (failed and not-sent messages say why). */
  function showDelivery(div, d) {
    var old = div.querySelector(".delivery"); if (old) old.remove();
    if (!d || d.status === "sent") return;
    var tag = document.createElement("span"); tag.className = "delivery " + d.status;
    tag.textContent = " · " + word("delivery_", d.status) + (d.error ? " — " + d.error : "");
    div.querySelector(".who").appendChild(tag);
  }
  /* reveal: the agent picked the chat (on a phone, it takes the screen); a refresh of the chat already
     open (after an action, or an event about it) leaves the phone on whichever side the agent is. */
  function show(detail, reveal) {
    var c = detail.conversation; current = c;
    delete unread[c.id];
    var customer = detail.customer;
    $("title").textContent = who(c);
    $("subtitle").textContent = [about(c), word("state_", c.state)].concat(customer ? [customer.username ? "@" + customer.username : "",
      customer.unreachable_at ? T.unreachable + ": " + customer.unreachable_reason : ""] : []).filter(Boolean).join(" · ");
    if (reveal) body.classList.add("chat-open");
    $("details").hidden = false;
    $("history").textContent = ""; $("typing").textContent = "";
    if (live.id !== c.id) live = { id: c.id, messages: [] };
    var drawn = {};
    detail.messages.forEach(function (m) { drawn[m.id] = true; addMessage(m); });
    live.messages = live.messages.filter(function (m) { return !drawn[m.id]; }); /* newer than this snapshot */
    live.messages.forEach(addMessage);
    renderProfile(detail.profile);
    $("verified").hidden = true; $("linked").hidden = true;
    loadCustomer(c.id);
    var mine = c.state === "human" && c.agent_id === me.id;
    var supervising = me.role === "supervisor" || me.role === "admin";
    $("claim").hidden = c.state !== "queued";
    $("close").hidden = !mine; $("close-box").hidden = !mine;
    $("unassign").hidden = !(mine || (supervising && c.state === "human"));
    $("transfer").hidden = !(mine || (supervising && (c.state === "human" || c.state === "queued")));
    if ($("transfer").hidden) $("transfer-form").hidden = true;
    $("composer").hidden = !(mine || c.state === "queued" || c.state === "human");
    $("as-note").checked = !mine; $("as-note").disabled = !mine;
    $("attach-box").hidden = !mine; /* files go to the customer: only from the agent who holds the chat */
    $("composer").classList.toggle("noting", $("as-note").checked);
    api("/canned?lang=" + encodeURIComponent(c.language) + (c.team_id ? "&team=" + encodeURIComponent(c.team_id) : "")).then(function (list) {
      canned = {}; list.forEach(function (x) { canned[x.shortcut] = x.text; });
      showShortcuts();
    });
    refreshLists();
  }
  function open(id, reveal) {
    notice("");
    return api("/conversations/" + id).then(function (detail) { show(detail, reveal); }).catch(function (e) { notice(e.message); });
  }
  function act(path, payload) {
    return api("/conversations/" + current.id + path, { method: "POST", body: payload ? JSON.stringify(payload) : undefined })
      .then(function () { return open(current.id); })
      .catch(function (e) { notice(e.message); refreshLists(); });
  }
  $("claim").addEventListener("click", function () { act("/claim"); });
  $("unassign").addEventListener("click", function () { act("/unassign"); });
  $("close").addEventListener("click", function () { act("/close", { reason: $("close-reason").value }); });
  $("transfer").addEventListener("click", function () {
    $("transfer-form").hidden = !$("transfer-form").hidden;
    $("transfer").setAttribute("aria-expanded", String(!$("transfer-form").hidden));
    if (!$("transfer-form").hidden) $("transfer-team").focus();
  });
  /* Phone: back to the lists. Tablet and phone: the customer's details as a panel. */
  $("back").addEventListener("click", function () { body.classList.remove("chat-open", "show-profile"); $("details").setAttribute("aria-expanded", "false"); });
  function toggleProfile(show) {
    body.classList.toggle("show-profile", show); $("details").setAttribute("aria-expanded", String(show));
    (show ? $("hide-details") : $("details")).focus();
  }
  $("details").addEventListener("click", function () { toggleProfile(!body.classList.contains("show-profile")); });
  $("hide-details").addEventListener("click", function () { toggleProfile(false); });
  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var payload = { team_id: $("transfer-team").value || null, agent_id: $("transfer-agent").value ? Number($("transfer-agent").value) : null, note: $("transfer-note").value };
    $("transfer-form").hidden = true; $("transfer-note").value = "";
    act("/transfer", payload);
  });
  $("status").addEventListener("change", function () {
    api("/status", { method: "POST", body: JSON.stringify({ status: $("status").value }) }).catch(function (e) { notice(e.message); });
  });
  $("as-note").addEventListener("change", function () { $("composer").classList.toggle("noting", $("as-note").checked); });

  /* "/shortcut" + Tab (or Enter) becomes the canned text with the customer's and agent's names;
     without a name, the name goes with the comma before it (as handoff.render_canned does). */
  function renderCanned(text) {
    var name = current && current.customer_name;
    if (!name) text = text.replace(/[,\s]*\{customer_name\}/g, "");
    return text.replace(/\{customer_name\}/g, name || "").replace(/\{agent_name\}/g, me.name);
  }
  /* What "/words" finds: the replies where every word begins the shortcut or a word of the text,
     accents and case ignored ("/devol" finds "devolução"), as the canned responses page searches. */
  function fold(text) { return text.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, ""); }
  function typedWords() {
    var m = /^\/([^\/\n]{0,60})$/.exec($("text").value);
    return m ? fold(m[1]).split(/[^\w-]+/).filter(Boolean) : null;
  }
  function found(words) {
    return Object.keys(canned).sort().filter(function (k) {
      var own = [fold(k)].concat(fold(canned[k]).split(/[^\w]+/));
      return words.every(function (w) { return own.some(function (o) { return o.indexOf(w) === 0; }); });
    });
  }
  /* Tab or Enter takes the reply whose shortcut was typed whole, else the first one listed. */
  function expandCanned() {
    var words = typedWords(), exact = $("text").value.trim().slice(1);
    if (!words || !words.length) return false;
    var pick = canned[exact] ? exact : found(words)[0];
    if (!pick) return false;
    useCanned(pick);
    return true;
  }
  function useCanned(shortcut) {
    $("text").value = renderCanned(canned[shortcut]);
    $("shortcuts").hidden = true; $("text").focus();
  }
  /* Typing "/" lists the canned replies; the words after it narrow the list. */
  function showShortcuts() {
    var words = typedWords(), box = $("shortcuts"), ul = box.querySelector("ul");
    box.hidden = !words; if (!words) return;
    ul.textContent = "";
    var names = found(words);
    if (!names.length) { var none = document.createElement("li"); none.className = "meta"; none.textContent = T.no_shortcuts; ul.appendChild(none); }
    names.forEach(function (k) {
      var li = document.createElement("li"), b = document.createElement("button"), key = document.createElement("strong");
      b.type = "button"; key.textContent = "/" + k;
      b.appendChild(key); b.appendChild(document.createTextNode(renderCanned(canned[k])));
      b.addEventListener("click", function () { useCanned(k); });
      li.appendChild(b); ul.appendChild(li);
    });
  }
  $("text").addEventListener("input", showShortcuts);
  $("text").addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { $("shortcuts").hidden = true; return; }
    if ((ev.key === "Tab" || ev.key === "Enter") && !ev.shiftKey && expandCanned()) { ev.preventDefault(); return; }
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("composer").requestSubmit(); return; }
    if (current && socket && socket.readyState === 1 && Date.now() - lastTypingSent > 2000 && !$("as-note").checked) {
      lastTypingSent = Date.now();
      socket.send(JSON.stringify({ type: "typing", conversation_id: current.id }));
    }
  });
  $("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("text").value; if (!text.trim() || !current) return;
    var path = $("as-note").checked ? "/notes" : "/messages";
    api("/conversations/" + current.id + path, { method: "POST", body: JSON.stringify({ text: text }) })
      .then(function () { $("text").value = ""; })
      .catch(function (e) { notice(e.message); });
  });

  /* A file for the customer: sent at once, with the composer's text (if any) as its caption. */
  $("attach").addEventListener("change", function () {
    var file = $("attach").files[0]; if (!file || !current) return;
    var form = new FormData(); form.append("file", file); form.append("text", $("text").value);
    fetch("/api/agent/conversations/" + current.id + "/attachments", { method: "POST", headers: { "X-CSRF-Token": csrf }, body: form })
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : "HTTP " + r.status);
          $("text").value = ""; return open(current.id).then(function () { notice(T.file_sent); });
        });
      })
      .catch(function (e) { notice(e.message); })
      .then(function () { $("attach").value = ""; });
  });

  function connect() {
    socket = new WebSocket(location.origin.replace(/^http/, "ws") + "/api/agent/ws");
    socket.onmessage = function (ev) {
      var e = JSON.parse(ev.data);
      if (e.type === "owner" || e.type === "agent_status") refreshLists();
      if (e.type === "owner" && e.reason === "claim_unanswered" && e.previous_agent_id === me.id) {
        notice(T.claim_returned); alertAgent(T.claim_returned, "");
      }
      if (e.type === "message" && e.sender === "customer" && (!current || e.conversation_id !== current.id)) {
        unread[e.conversation_id] = (unread[e.conversation_id] || 0) + 1;
        if (e.agent_id === me.id) alertAgent(T.new_message, e.text.slice(0, 80));
        refreshLists();
      }
      if (!current || e.conversation_id !== current.id) return;
      if (e.type === "message") {
        var m = { id: e.message_id, sender: e.sender, text: e.text, internal: e.internal, data: null };
        if (live.id === current.id) live.messages.push(m);
        addMessage(m);
        if (e.sender === "customer") $("typing").textContent = "";
      } else if (e.type === "delivery") {
        var div = $("history").querySelector("[data-id='" + e.message_id + "']");
        if (div) showDelivery(div, { status: e.status, error: e.error });
      } else if (e.type === "typing" && e.who === "customer") {
        $("typing").textContent = T.customer_typing;
        clearTimeout(typingTimer); typingTimer = setTimeout(function () { $("typing").textContent = ""; }, 4000);
      } else if (e.type === "owner") open(current.id);
    };
    /* Closed: reconnect while the session lasts; once it has ended (logout elsewhere, a password
       reset, deactivation), to the login page instead of knocking on a closed door. */
    socket.onclose = function () {
      setTimeout(function () {
        fetch("/api/me").then(function (r) {
          if (r.status === 401) location.assign("/login?next=/console");
          else connect();
        }, connect);
      }, 2000);
    };
  }
  refreshLists();
  connect();
  setInterval(refreshLists, 30000); /* waiting times tick even when nothing happens */
})();
