/* Balcão chat widget. Embed with one tag:
 *   <script src="https://HUB/widget.js" data-title="Ajuda" data-color="#0b6e4f" data-lang="pt-BR" defer></script>
 * A shop whose customer is logged in says who they are, signed on its server (docs/identity.md):
 * data-customer-id, -name, -email, -phone and data-customer-signature on the tag, or
 * Balcao.identify({id, name, email, phone}, signature) later; Balcao.reset() when they log out.
 * An identity the desk refuses (a wrong signature) is dropped: the chat goes on as a visitor's.
 * data-title and data-color are the page's; the company's name and colour an admin sets on the desk
 * (/admin/settings) are sent when the chat opens and win over data-color.
 * Everything lives in a shadow root, so the host page's CSS cannot restyle it and it restyles nothing.
 * Customer and agent text is always inserted as text (textContent), never as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var hub = (data.hub || (script ? new URL(script.src).origin : location.origin)).replace(/\/$/, "");
  /* The language: the one the page names for the widget (data-lang, ?lang= on the script or the
   * page), else the page's own <html lang>, else the browser's (navigator.languages), else the desk's
   * default, which the hub sends when the page opens. */
  function speak(tag) {
    tag = String(tag || "").trim().toLowerCase();
    if (tag === "pt-pt") return "pt-PT";
    if (tag === "pt" || tag.indexOf("pt-") === 0) return "pt-BR";
    if (tag === "en" || tag.indexOf("en-") === 0) return "en";
    return null;
  }
  function param(url) { try { return new URL(url, location.href).searchParams.get("lang"); } catch (e) { return null; } }
  var lang = null;
  [data.lang, script && param(script.src), param(location.href), document.documentElement.lang]
    .concat(navigator.languages || [navigator.language])
    .some(function (tag) { lang = speak(tag); return lang; });
  var TEXTS = {
    "pt-BR": { title: "Atendimento", open: "Abrir o chat", close: "Fechar o chat", placeholder: "Escreva sua mensagem",
      send: "Enviar", queued: "Aguardando uma pessoa do atendimento…", human: "{name} entrou na conversa.",
      ended: "Conversa encerrada.", offline: "Reconectando…", log: "Mensagens", typing: "Digitando…",
      pending: "Será enviada ao reconectar", place: "Você é o {n}º da fila · espera de cerca de {m} min",
      closed: "Fora do horário de atendimento · sua conversa está na fila", more: "Ver o artigo completo" },
    "pt-PT": { title: "Apoio ao cliente", open: "Abrir o chat", close: "Fechar o chat", placeholder: "Escreva a sua mensagem",
      send: "Enviar", queued: "A aguardar uma pessoa do apoio…", human: "{name} entrou na conversa.",
      ended: "Conversa terminada.", offline: "A religar…", log: "Mensagens", typing: "A escrever…",
      pending: "Será enviada ao religar", place: "É o {n}.º na fila · espera de cerca de {m} min",
      closed: "Fora do horário de atendimento · a sua conversa está na fila", more: "Ver o artigo completo" },
    "en": { title: "Support", open: "Open chat", close: "Close chat", placeholder: "Type your message",
      send: "Send", queued: "Waiting for a person from our team…", human: "{name} joined the conversation.",
      ended: "Conversation closed.", offline: "Reconnecting…", log: "Messages", typing: "Typing…",
      pending: "Will be sent when reconnected", place: "You are number {n} in the queue · about {m} min wait",
      closed: "Outside our opening hours · your chat is in the queue", more: "Read the whole article" }
  };
  var T = TEXTS[lang || "pt-BR"]; /* until the hub names the desk's default */
  var desk = { texts: {}, maxChars: 0, company: "" }; /* the desk's wording, limit and name, sent when the page opens */
  var color = /^#[0-9a-f]{3,8}$/i.test(data.color || "") ? data.color : "#0b6e4f";
  var side = data.position === "left" ? "left" : "right";
  var storageKey = "balcao-token:" + hub;
  /* The shop's logged-in customer and its server's signature of them (sent with every session call). */
  var identity = data.customerId ? { id: data.customerId, name: data.customerName || "", email: data.customerEmail || "",
    phone: data.customerPhone || "" } : null;
  var signature = data.customerSignature || null;

  var host = document.createElement("div");
  host.setAttribute("data-balcao-widget", "");
  /* The accent is a custom property: the colour the desk's admins set replaces the page's when it opens. */
  host.style.setProperty("--accent", color);
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" +
    ":host{all:initial !important}" + /* the host page's !important rules must not reach inside */
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:15px;line-height:1.4}" +
    ".launcher{position:fixed;bottom:20px;" + side + ":20px;width:60px;height:60px;border-radius:50%;border:0;background:var(--accent);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.3);z-index:2147483646;display:flex;align-items:center;justify-content:center;padding:0}" +
    ".launcher svg{width:30px;height:30px;fill:currentColor}" +
    ".panel{position:fixed;bottom:92px;" + side + ":20px;width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 110px);background:#fff;color:#1b1b1b;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;z-index:2147483647}" +
    ".panel[hidden]{display:none}" +
    "header{background:var(--accent);color:#fff;padding:12px 14px;font-weight:600;display:flex;justify-content:space-between;align-items:center}" +
    "header button{background:transparent;border:0;color:#fff;font-size:24px;cursor:pointer;min-width:44px;min-height:44px;margin:-8px -10px -8px 0;border-radius:6px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;background:#f6f7f8}" +
    ".msg{max-width:85%;margin:6px 0;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}" +
    ".customer{margin-left:auto;background:var(--accent);color:#fff}" +
    ".bot,.agent,.system,.greeting{background:#fff;border:1px solid #dcdfe3}" +
    ".who{display:block;font-size:12px;color:#555;margin-bottom:2px}" +
    ".buttons{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}" +
    ".buttons button{border:1px solid var(--accent);background:#fff;color:var(--accent);border-radius:22px;padding:5px 14px;min-height:44px;min-width:44px;cursor:pointer}" +
    ".more{display:block;margin-top:6px;border:0;background:none;color:var(--accent);text-decoration:underline;padding:0;min-height:44px;cursor:pointer;font-size:14px}" +
    ".limit{font-size:13px;color:#8a1c1c;background:#fdecec;padding:6px 12px}" +
    ".limit[hidden]{display:none}" +
    ".buttons button:focus,.launcher:focus,form button:focus,textarea:focus,.more:focus,header button:focus{outline:3px solid #ffbf47;outline-offset:1px}" +
    ".status{font-size:13px;color:#333;background:#fff6d6;padding:6px 12px}" +
    ".status:empty{display:none}" +
    ".typing{margin:6px 0;padding:8px 11px;color:#444;font-size:13px}" +
    ".typing[hidden]{display:none}" +
    ".typing span{display:inline-block;width:7px;height:7px;margin-right:3px;border-radius:50%;background:#666;animation:b 1.2s infinite}" +
    ".typing span:nth-child(2){animation-delay:.2s}.typing span:nth-child(3){animation-delay:.4s}" +
    "@keyframes b{0%,80%,100%{opacity:.25}40%{opacity:1}}" +
    "@media (prefers-reduced-motion:reduce){.typing span{animation:none}}" +
    ".msg.pending{opacity:.65}" +
    "form{display:flex;border-top:1px solid #dcdfe3;background:#fff}" +
    "textarea{flex:1;border:0;padding:10px;resize:none;height:48px;color:#1b1b1b;background:#fff}" +
    "form button{border:0;background:var(--accent);color:#fff;padding:0 16px;cursor:pointer}" +
    "</style>" +
    /* an inline icon: an emoji or icon font may be missing on the visitor's system */
    "<button class='launcher' type='button' aria-expanded='false'><svg viewBox='0 0 24 24' aria-hidden='true' focusable='false'>" +
    "<path d='M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z'/></svg></button>" +
    "<section class='panel' role='dialog' hidden>" +
    "<header><span class='title'></span><button class='close' type='button'>&times;</button></header>" +
    "<div class='status' role='status'></div>" +
    "<div class='log' role='log' aria-live='polite'></div>" +
    "<div class='typing' aria-hidden='true' hidden><span></span><span></span><span></span></div>" +
    "<div class='limit' role='alert' hidden></div>" +
    "<form><textarea rows='1'></textarea><button type='submit'></button></form>" +
    "</section>";
  var $ = function (s) { return root.querySelector(s); };
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), status = $(".status"), typing = $(".typing");
  var form = $("form"), input = $("textarea"), limit = $(".limit");
  function label() {
    var base = data.title || T.title; /* the company's name beside it, unless the shop's page already says it */
    var title = base + (desk.company && desk.company !== base ? " · " + desk.company : "");
    $(".title").textContent = title; /* text, never HTML: the names are the admins' */
    launcher.setAttribute("aria-label", T.open);
    $(".close").setAttribute("aria-label", T.close);
    panel.setAttribute("aria-label", title);
    log.setAttribute("aria-label", T.log);
    input.setAttribute("aria-label", T.placeholder);
    input.placeholder = T.placeholder;
    form.querySelector("button").textContent = T.send;
    typing.setAttribute("aria-label", T.typing);
    root.querySelectorAll(".more").forEach(function (b) { b.textContent = T.more; });
  }
  label();

  /* unacked: messages written but not yet confirmed stored by the hub (by id, in order). They are
   * sent again after a reconnect; the hub stores each id once, so nothing is lost or doubled. */
  var socket = null, retry = 0, seen = {}, opened = false, unacked = [], refreshTimer = null;
  var state = null, lastTyping = 0, agentTyping = null;

  /* Bold (**text**) is the only formatting the bot uses; everything is still inserted as text. */
  function renderText(el, text) {
    String(text).split("**").forEach(function (part, i) {
      if (!part) return;
      if (i % 2) { var b = document.createElement("strong"); b.textContent = part; el.appendChild(b); }
      else el.appendChild(document.createTextNode(part));
    });
  }
  function clearButtons() { root.querySelectorAll(".buttons").forEach(function (b) { b.remove(); }); }
  function addMessage(m, live) {
    if (m.id && seen[m.id]) return;
    if (m.id) seen[m.id] = true;
    var div = document.createElement("div");
    div.className = "msg " + m.sender;
    div.setAttribute("data-sender", m.sender);
    if (m.sender === "agent" && m.agent_name) {
      var who = document.createElement("span"); who.className = "who"; who.textContent = m.agent_name; div.appendChild(who);
    }
    renderText(div, m.text);
    if (m.full_text) { /* an answer shows the passage that answers the question; the whole article on request */
      var more = document.createElement("button"); more.type = "button"; more.className = "more"; more.textContent = T.more;
      more.addEventListener("click", function () {
        div.textContent = ""; renderText(div, m.full_text);
        div.setAttribute("tabindex", "-1"); div.focus(); /* the control is gone: keep the reader where they were */
      });
      div.appendChild(more);
    }
    (m.attachments || []).forEach(function (a) { /* a file from the agent: a signed link to it */
      if (!/^https?:\/\//.test(a.url || "")) return;
      var link = document.createElement("a"); link.className = "file"; link.href = a.url; link.target = "_blank"; link.rel = "noopener";
      link.textContent = "📎 " + (a.name || a.kind); div.appendChild(document.createElement("br")); div.appendChild(link);
    });
    log.appendChild(div);
    if (m.sender !== "customer") {
      clearButtons();
      if (m.buttons && m.buttons.length) {
        var row = document.createElement("div"); row.className = "buttons";
        m.buttons.forEach(function (b) {
          var btn = document.createElement("button"); btn.type = "button"; btn.textContent = b.title;
          btn.addEventListener("click", function () { send(b.title, b.payload); });
          row.appendChild(btn);
        });
        log.appendChild(row);
      }
    }
    log.scrollTop = log.scrollHeight;
  }
  function showState(newState, agentName) {
    state = newState;
    if (newState === "queued") status.textContent = T.queued;
    else if (newState === "human") status.textContent = T.human.replace("{name}", agentName || "");
    else status.textContent = "";
  }
  /* While waiting for a person: place in the queue and the estimated wait, as they change. */
  function showPlace(q) {
    if (state !== "queued" || !q) return;
    if (q.open === false) { status.textContent = T.closed; return; } /* nobody answers now: no place, no wait */
    status.textContent = T.place.replace("{n}", q.position).replace("{m}", Math.max(1, Math.round(q.wait_seconds / 60)));
  }
  /* The desk's greeting opens every conversation (shown, not stored). */
  function greet() {
    if (!desk.texts.greeting) return;
    var div = document.createElement("div"); div.className = "msg greeting";
    renderText(div, desk.texts.greeting);
    log.appendChild(div);
  }
  /* The page's setup from the hub: the language (the desk's default when nothing here named one
   * Balcão speaks), the length limit and the desk's wording. */
  function setUp(m) {
    if (TEXTS[m.lang]) { lang = m.lang; T = TEXTS[lang]; } /* the desk's choice among the languages it offers */
    desk = { texts: m.texts || {}, maxChars: m.max_chars || 0, company: typeof m.company === "string" ? m.company : "" };
    if (/^#[0-9a-f]{6}$/i.test(m.color || "")) host.style.setProperty("--accent", m.color);
    label();
    checkLength();
  }
  /* A message over the desk's limit is not sent: the customer is told the limit and keeps the text. */
  function overLimit(text) { return desk.maxChars && text.length > desk.maxChars; }
  function checkLength() {
    var over = overLimit(input.value);
    limit.hidden = !over;
    limit.textContent = over ? (desk.texts.too_long || "") : "";
    if (over) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    return over;
  }
  function showTyping(on) { typing.hidden = !on; if (on) log.scrollTop = log.scrollHeight; }
  function addPending(frame) {
    addMessage({ sender: "customer", text: frame.text }, true);
    var el = log.lastElementChild; el.setAttribute("data-id", frame.id);
    if (!socket || socket.readyState !== 1) { el.classList.add("pending"); el.title = T.pending; }
  }
  function transmit(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); showTyping(true); }
  }
  function acked(id) {
    unacked = unacked.filter(function (f) { return f.id !== id; });
    var el = log.querySelector("[data-id='" + id + "']");
    if (el) { el.classList.remove("pending"); el.removeAttribute("title"); el.removeAttribute("data-id"); }
    if (!unacked.length) showTyping(false);
  }
  function send(text, payload) {
    text = String(text || "");
    if (!text.trim()) return;
    var id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    var frame = { type: "message", id: id, text: text };
    if (payload) frame.payload = payload;
    unacked.push(frame);
    clearButtons();
    addPending(frame);
    transmit(frame);
    input.focus(); /* a tapped quick reply disappears: keep keyboard users in the conversation */
  }
  /* The customer's token, kept in localStorage (or this page only, if storage is blocked). Tokens
   * expire (24 h by default): every (re)connection first exchanges it for a fresh one, and an open
   * page refreshes it halfway through its life, so a returning visitor keeps their conversation.
   * A token the hub refuses (forged, or expired) is dropped and a new chat starts. */
  var pageToken = null;
  function storedToken() {
    try { return localStorage.getItem(storageKey); } catch (e) { return pageToken; } /* storage blocked */
  }
  function keepToken(t) {
    pageToken = t;
    try { if (t) localStorage.setItem(storageKey, t); else localStorage.removeItem(storageKey); } catch (e) {}
  }
  function getToken() {
    var stored = storedToken();
    var claimed = identity;
    var request = function () {
      var body = { token: stored };
      if (claimed) { body.identity = claimed; body.signature = signature; }
      return fetch(hub + "/widget/session", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
    };
    /* Asking for a session twice is harmless (the same customer, a fresh token): a request that got
     * no answer (an idle connection closed as it was reused) is sent once more. */
    return request().catch(request)
      .then(function (r) {
        if ((r.status === 403 || r.status === 422) && claimed) { /* the identity was refused: go on as a visitor */
          r.json().then(function (j) { if (window.console) console.warn("Balcão:", j.detail); }, function () {});
          if (identity === claimed) { identity = null; signature = null; }
          return getToken();
        }
        if (r.status === 403 && stored) { keepToken(null); return getToken(); }
        if (!r.ok) throw new Error("session " + r.status);
        return r.json().then(function (j) {
          keepToken(j.token);
          clearTimeout(refreshTimer);
          refreshTimer = setTimeout(function () { getToken().catch(function () {}); }, Math.min(2147483647, (j.expires_in || 86400) * 500));
          return j.token;
        });
      });
  }
  function connect() {
    getToken().then(function (t) {
      /* The token rides in the handshake's Sec-WebSocket-Protocol header, not in the URL (which
       * proxies and servers write to their logs). */
      socket = new WebSocket(hub.replace(/^http/, "ws") + "/widget/ws?lang=" + (lang || ""), ["balcao.widget", "balcao.token." + t]);
      socket.onopen = function () { retry = 0; if (status.textContent === T.offline) status.textContent = ""; };
      /* frames sent before the history arrives would be drawn and then wiped: send them after it */
      socket.onmessage = function (ev) {
        var m = JSON.parse(ev.data);
        if (m.type === "history") {
          setUp(m);
          log.textContent = ""; seen = {};
          greet();
          (m.messages || []).forEach(function (x) { addMessage(x, false); });
          showState(m.state, m.agent_name);
          showPlace(m.queue);
          var stored = {};
          (m.messages || []).forEach(function (x) { if (x.client_id) stored[x.client_id] = true; });
          unacked = unacked.filter(function (f) { return !stored[f.id]; }); /* stored, only the ack was lost */
          unacked.forEach(function (f) { addPending(f); transmit(f); }); /* written while offline */
        } else if (m.type === "ack") {
          acked(m.id);
        } else if (m.type === "message") {
          if (m.sender === "agent") { showState("human", m.agent_name); clearTimeout(agentTyping); if (!unacked.length) showTyping(false); }
          addMessage(m, true);
        } else if (m.type === "state") showState(m.state, m.agent_name);
        else if (m.type === "queue") { if (state !== "queued") showState("queued"); showPlace(m); }
        else if (m.type === "typing") { /* the agent is typing */
          showTyping(true); clearTimeout(agentTyping);
          agentTyping = setTimeout(function () { if (!unacked.length) showTyping(false); }, 4000);
        }
        /* "unavailable": not stored yet; the message stays pending and is sent again on reconnecting */
        else if (m.type === "error") { if (m.id && m.code !== "unavailable") acked(m.id); addMessage({ sender: "system", text: m.message }, true); }
      };
      socket.onclose = function (ev) {
        status.textContent = T.offline; showTyping(false);
        log.querySelectorAll("[data-id]").forEach(function (el) { el.classList.add("pending"); el.title = T.pending; }); /* unacked only */
        setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++)));
      };
    }).catch(function () { status.textContent = T.offline; setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++))); });
  }
  function toggle(open) {
    opened = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) { if (!socket) connect(); input.focus(); } else launcher.focus();
  }
  launcher.addEventListener("click", function () { toggle(!opened); });
  $(".close").addEventListener("click", function () { toggle(false); });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (checkLength()) { input.focus(); return; }
    send(input.value); input.value = "";
  });
  input.addEventListener("input", checkLength);
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); return; }
    /* Tell a person who is answering that the customer is typing (at most every 2 s). */
    if ((state === "human" || state === "queued") && socket && socket.readyState === 1 && Date.now() - lastTyping > 2000) {
      lastTyping = Date.now(); socket.send(JSON.stringify({ type: "typing" }));
    }
  });
  root.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && opened) toggle(false); });
  (document.body ? Promise.resolve() : new Promise(function (r) { document.addEventListener("DOMContentLoaded", r); }))
    .then(function () {
      document.body.appendChild(host);
      var stored = null; try { stored = localStorage.getItem(storageKey); } catch (e) {}
      if (stored) toggle(true); /* a returning customer finds the conversation where they left it */
    });
  /* A new identity (or none) starts over with it: the open page reconnects as that customer. */
  function restart() { clearTimeout(refreshTimer); if (socket) socket.close(); else if (opened) connect(); }
  window.Balcao = {
    open: function () { toggle(true); },
    close: function () { toggle(false); },
    identify: function (who, sig) {
      who = who || {};
      identity = { id: String(who.id || ""), name: String(who.name || ""), email: String(who.email || ""), phone: String(who.phone || "") };
      signature = String(sig || "");
      restart();
    },
    reset: function () { identity = null; signature = null; keepToken(null); restart(); }
  };
})();
