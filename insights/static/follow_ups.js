/* The agent console's list of detractors to call back (insights' follow-ups): take one, then
   record what came of the call. Self-contained: the console page only gives it #follow-ups.
   Customers' words are inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var list = document.getElementById("follow-ups");
  if (!list) return;
  var me = Number(document.body.dataset.userId);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var T = {
    "pt-BR": { none: "Nenhum retorno pendente.", take: "Assumir", done: "Concluir", yours: "com você",
               taken: "com outro agente", outcome: "O que foi combinado com o cliente?", score: "nota",
               no_reason: "(sem motivo)" },
    en: { none: "No follow-ups waiting.", take: "Take", done: "Done", yours: "yours", taken: "taken by another agent",
          outcome: "What came of the call back?", score: "score", no_reason: "(no reason given)" }
  }[document.body.dataset.lang === "en" ? "en" : "pt-BR"];
  var count = document.getElementById("follow-ups-count");
  var status = document.getElementById("follow-ups-status");

  function call(path, body) {
    return fetch("/api/insights/follow-ups" + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : "HTTP " + r.status);
        return data;
      });
    });
  }

  function button(text, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function row(task) {
    var li = document.createElement("li");
    li.dataset.followUp = task.id;
    var what = document.createElement("div");
    what.textContent = T.score + " " + task.score + " · " + (task.team_id || "bot") + " · " + (task.reason || T.no_reason);
    li.appendChild(what);
    if (task.claimed_by === null) {
      li.appendChild(button(T.take, function () { act(call("/" + task.id + "/claim", {})); }));
    } else if (task.claimed_by === me) {
      var form = document.createElement("form");
      var input = document.createElement("input");
      input.maxLength = 2000;
      input.required = true;
      input.setAttribute("aria-label", T.outcome);
      input.placeholder = T.outcome;
      form.appendChild(input);
      var submit = button(T.done, function () {});
      submit.type = "submit";
      form.appendChild(submit);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        act(call("/" + task.id + "/done", { outcome: input.value }));
      });
      li.appendChild(document.createTextNode(T.yours));
      li.appendChild(form);
    } else {
      li.appendChild(document.createTextNode(T.taken));
    }
    return li;
  }

  function draw(tasks) {
    list.replaceChildren.apply(list, tasks.map(row));
    if (count) count.textContent = String(tasks.filter(function (t) { return t.claimed_by === null; }).length);
    if (!tasks.length) {
      var li = document.createElement("li");
      li.className = "meta";
      li.textContent = T.none;
      list.appendChild(li);
    }
  }

  function refresh() { return call("").then(draw).catch(function (e) { if (status) status.textContent = e.message; }); }
  function act(promise) {
    promise.then(function () { if (status) status.textContent = ""; })
      .catch(function (e) { if (status) status.textContent = e.message; })
      .then(refresh);
  }

  refresh();
  setInterval(refresh, 20000);  // new detractors arrive now and then: a light poll is enough
})();
