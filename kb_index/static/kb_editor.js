/* Knowledge-base editor. Article text is inserted with textContent; only the server's sanitised
   Markdown preview (raw HTML disabled) is set as HTML. */
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("texts").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var $ = function (id) { return document.getElementById(id); };
  var form = $("article-form");
  var current = null; /* the article being edited, as last loaded or saved */
  var previewTimer = null;

  function api(method, path, body) {
    var options = { method: method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf } };
    if (body !== undefined) options.body = JSON.stringify(body);
    return fetch("/api/kb" + path, options).then(function (r) {
      if (r.status === 204) return null;
      var type = r.headers.get("content-type") || "";
      return (type.indexOf("json") >= 0 ? r.json() : r.text()).then(function (data) {
        if (!r.ok) {
          var detail = data && data.detail;
          if (Array.isArray(detail)) detail = detail.map(function (d) { return (d.loc || []).slice(-1)[0] + ": " + d.msg; }).join("; ");
          throw new Error(typeof detail === "string" ? detail : "HTTP " + r.status);
        }
        return data;
      });
    });
  }
  /* "1 cliente", "3 vezes": the table's form for the number's plural category in the page's language. */
  var plurals = new Intl.PluralRules(document.documentElement.lang || "pt-BR");
  function counted(key, n) {
    var form = T[key + "_" + plurals.select(n)] || T[key + "_other"];
    return form.replace("{n}", String(n));
  }
  function notice(text, isError) { $("notice").textContent = text || ""; $("notice").className = isError ? "error" : ""; }
  function fail(e) { notice(e.message, true); }
  function path(a) { return "/articles/" + encodeURIComponent(a.id) + "/" + encodeURIComponent(a.lang); }

  /* -- the list -- */
  function loadList() {
    var params = new URLSearchParams(new FormData($("filters")));
    return api("GET", "/articles?" + params.toString()).then(function (items) {
      var ul = $("articles"); ul.textContent = "";
      if (!items.length) { var li = document.createElement("li"); li.textContent = T.none; ul.appendChild(li); }
      items.forEach(function (a) {
        var li = document.createElement("li");
        var b = document.createElement("button"); b.type = "button"; b.className = "item " + a.status;
        var title = document.createElement("strong"); title.textContent = a.title; b.appendChild(title);
        var meta = document.createElement("div"); meta.className = "meta";
        meta.textContent = a.id + " · " + a.lang + " · " + a.team + " · " + T[a.status] + " · v" + a.version +
          (a.suggested_by ? " · " + T.suggested_by + " " + a.suggested_by : "");
        b.appendChild(meta);
        b.addEventListener("click", function () { openArticle(a.id, a.lang); });
        li.appendChild(b); ul.appendChild(li);
      });
    }).catch(fail);
  }

  /* -- the form -- */
  function fill(a) {
    current = a;
    form.elements.id.value = a ? a.id : "";
    form.elements.lang.value = a ? a.lang : form.elements.lang.value;
    form.elements.id.readOnly = !!a; form.elements.lang.disabled = !!a;
    form.elements.team.value = a ? a.team : "geral";
    form.elements.title.value = a ? a.title : "";
    form.elements.questions.value = a ? a.questions.join("\n") : "";
    form.elements.body.value = a ? a.body : "";
    form.elements.tags.value = a ? a.tags.join(", ") : "";
    showState();
    preview();
    loadHistory();
  }
  function showState() {
    var a = current;
    form.elements.version.value = a ? a.version : "";
    $("form-title").textContent = a ? T.edit : T.new;
    $("article-state").textContent = a ? T[a.status] + " · " + T.version + " " + a.version + " · " + T.by + " " + a.author +
      (a.suggested_by ? " · " + T.suggested_by + " " + a.suggested_by : "") : "";
    $("publish").disabled = !a || a.status === "published";
    $("unpublish").disabled = !a || a.status !== "published";
    $("delete").disabled = !a;
  }
  function values() {
    var lines = function (s) { return s.split("\n").map(function (x) { return x.trim(); }).filter(Boolean); };
    return {
      id: form.elements.id.value.trim(), lang: form.elements.lang.value, team: form.elements.team.value,
      title: form.elements.title.value, body: form.elements.body.value, questions: lines(form.elements.questions.value),
      tags: form.elements.tags.value.split(",").map(function (x) { return x.trim(); }).filter(Boolean)
    };
  }
  function openArticle(id, lang) {
    api("GET", path({ id: id, lang: lang })).then(function (a) { fill(a); notice(""); }).catch(fail);
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var v = values();
    /* On a refusal (e.g. someone saved meanwhile) the form keeps what the editor wrote. */
    var saving = current
      ? api("PUT", path(current), { version: current.version, title: v.title, body: v.body, team: v.team, questions: v.questions, tags: v.tags })
      : api("POST", "/articles", v);
    saving.then(function (a) { current = a; showState(); loadHistory(); loadList(); loadClusters(); notice(T.saved); }).catch(fail);
  });
  function statusChange(what, message) {
    if (!current) return;
    api("POST", path(current) + "/" + what, { version: current.version })
      /* A publication may answer questions: they leave the unanswered list. */
      .then(function (a) { current = a; showState(); loadHistory(); loadList(); loadClusters(); notice(message); }).catch(fail);
  }
  $("publish").addEventListener("click", function () { statusChange("publish", T.published_ok); });
  $("unpublish").addEventListener("click", function () { statusChange("unpublish", T.unpublished_ok); });
  $("delete").addEventListener("click", function () {
    if (!current || !window.confirm(T.confirm_delete)) return;
    api("DELETE", path(current) + "?version=" + current.version).then(function () { fill(null); loadList(); notice(T.deleted); }).catch(fail);
  });
  $("new-article").addEventListener("click", function () { fill(null); notice(""); });

  function preview() {
    var body = form.elements.body.value;
    if (!body.trim()) { $("preview").textContent = ""; return; }
    api("POST", "/preview", { body: body }).then(function (r) { $("preview").innerHTML = r.html; }).catch(fail);
  }
  form.elements.body.addEventListener("input", function () { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 300); });

  /* -- history -- */
  function loadHistory() {
    var ul = $("history"); ul.textContent = ""; $("diff").textContent = "";
    if (!current) return;
    api("GET", path(current) + "/versions").then(function (versions) {
      versions.forEach(function (v) {
        var li = document.createElement("li");
        li.textContent = T.version + " " + v.version + " · " + T[v.status] + " · " + v.author + " · " + new Date(v.at).toLocaleString() + " ";
        if (v.version > 1) {
          var d = document.createElement("button"); d.type = "button"; d.textContent = T.diff;
          d.addEventListener("click", function () {
            api("GET", path(current) + "/diff?from=" + (v.version - 1) + "&to=" + v.version).then(function (text) { $("diff").textContent = text; }).catch(fail);
          });
          li.appendChild(d);
        }
        if (v.version !== current.version) {
          var r = document.createElement("button"); r.type = "button"; r.textContent = T.revert;
          r.addEventListener("click", function () {
            api("POST", path(current) + "/revert", { to: v.version, version: current.version })
              .then(function (a) { fill(a); loadList(); notice(T.reverted); }).catch(fail);
          });
          li.appendChild(r);
        }
        ul.appendChild(li);
      });
    }).catch(fail);
  }

  /* -- try it -- */
  $("try-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var params = new URLSearchParams(new FormData($("try-form")));
    api("GET", "/try?" + params.toString()).then(function (r) {
      var box = $("try-result"); box.textContent = "";
      var p = document.createElement("p");
      p.textContent = T.decision + ": " + T[r.decision] + " (" + T.confidence + " " + r.confidence.toFixed(3) + ")";
      box.appendChild(p);
      if (r.t_answer !== null) {
        var th = document.createElement("p"); th.className = "meta";
        th.textContent = T.thresholds.replace("{a}", r.t_answer.toFixed(3)).replace("{c}", r.t_clarify.toFixed(3));
        box.appendChild(th);
      }
      var ol = document.createElement("ol");
      r.hits.forEach(function (h) {
        var li = document.createElement("li");
        li.textContent = h.title + " (" + h.id + ", " + h.lang + ") " + h.score.toFixed(3);
        ol.appendChild(li);
      });
      box.appendChild(ol);
    }).catch(fail);
  });

  /* -- unanswered questions -- */
  function loadClusters() {
    api("GET", "/unanswered/clusters").then(function (clusters) {
      var ul = $("clusters"); ul.textContent = "";
      if (!clusters.length) { var none = document.createElement("li"); none.textContent = T.none; ul.appendChild(none); }
      clusters.forEach(function (c) {
        var li = document.createElement("li"); li.className = "cluster";
        var head = document.createElement("strong"); head.textContent = c.representative; li.appendChild(head);
        var meta = document.createElement("div"); meta.className = "meta";
        meta.textContent = counted("customers", c.customers) + " · " + counted("times", c.count) + " · " + c.lang; li.appendChild(meta);
        var list = document.createElement("ul");
        c.questions.slice(0, 5).forEach(function (q) { var i = document.createElement("li"); i.textContent = "“" + q + "”"; list.appendChild(i); });
        li.appendChild(list);
        var b = document.createElement("button"); b.type = "button"; b.textContent = T.create_from;
        b.addEventListener("click", function () {
          fill(null);
          form.elements.lang.value = c.lang;
          form.elements.title.value = c.representative;
          form.elements.questions.value = c.questions.join("\n");
          form.elements.id.focus();
        });
        li.appendChild(b);
        ul.appendChild(li);
      });
    }).catch(fail);
  }
  $("refresh-unanswered").addEventListener("click", loadClusters);
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); loadList(); });

  loadList();
  loadClusters();
})();
