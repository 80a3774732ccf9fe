/* The agent console's list of detractors to call back (insights' follow-ups): take one, then
   record what came of the call. Self-contained: the console page only gives it #follow-ups and
   its language (body's data-lang); the words come from /api/insights/follow-ups/words.
   Customers' words are inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var list = document.getElementById("follow-ups");
  if (!list) return;
  var me = Number(document.body.dataset.userId);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var T = {};  // the words, in the reader's language, from insights (dashboard_texts.py)
  var count = document.getElementById("follow-ups-count");
  var status = document.getElementById("follow-ups-status");

  function call(path, body) {
    return fetch("/api/insights/follow-ups" + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      // A refusal is said in the reader's words: taken by someone else (409), gone (404), or failed.
      if (!r.ok) throw new Error({ 409: T.already_taken, 404: T.gone }[r.status] || T.failed);
      return r.json();
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
    what.textContent = T.score + " " + task.score + " · " + (task.team_name || task.team_id || T.no_team) + " · " + (task.reason || T.no_reason);
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

  function start(words) {
    T = words;
    refresh();
  }
  fetch("/api/insights/follow-ups/words?lang=" + encodeURIComponent(document.body.dataset.lang || ""))
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(start)
    .catch(function (e) { if (status) status.textContent = e.message; });
  setInterval(function () { if (T.none) refresh(); }, 20000);  // new detractors arrive now and then: a light poll is enough
})();
